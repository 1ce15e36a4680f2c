use std::collections::HashMap;

use super::*;

fn fields(h: &Hash) -> Vec<String> {
    h.iter()
        .map(|(f, _)| String::from_utf8_lossy(f).into_owned())
        .collect()
}

const LIM: Limits = Limits {
    list_fill: -2,
    hash_entries: 512,
    hash_value: 64,
    set_intset_entries: 512,
    zset_entries: 128,
    zset_value: 64,
};

#[test]
fn small_keeps_insertion_order() {
    let mut h = Hash::new();
    assert!(h.insert(b"b", b"1", &LIM));
    assert!(h.insert(b"a", b"2", &LIM));
    assert!(h.insert(b"c", b"3", &LIM));
    assert!(!h.insert(b"a", b"22", &LIM));
    assert_eq!(fields(&h), ["b", "a", "c"]);
    assert!(h.remove(b"b"));
    assert!(!h.remove(b"b"));
    assert_eq!(fields(&h), ["a", "c"]);
    assert_eq!(h.get(b"a"), Some(&b"22"[..]));
    assert_eq!(h.encoding(), "listpack");
    let mut seen = Vec::new();
    assert_eq!(h.scan(12345, 1, |f, _| seen.push(f.to_vec())), 0);
    assert_eq!(seen.len(), 2);
    // A field that is a prefix of another is a different field.
    assert!(h.insert(b"ab", b"x", &LIM));
    assert_eq!(h.get(b"a"), Some(&b"22"[..]));
    assert_eq!(h.get(b"ab"), Some(&b"x"[..]));
    assert_eq!(h.get(b""), None);
}

#[test]
fn converts_at_redis_thresholds() {
    let mut h = Hash::new();
    for i in 0..LIM.hash_entries {
        h.insert(format!("f{i}").as_bytes(), b"v", &LIM);
    }
    assert!(h.is_small());
    h.insert(b"one more", b"v", &LIM);
    assert_eq!(h.encoding(), "hashtable");
    assert_eq!(h.len(), LIM.hash_entries + 1);
    for i in 0..LIM.hash_entries {
        assert_eq!(h.get(format!("f{i}").as_bytes()), Some(&b"v"[..]));
    }

    let mut h = Hash::new();
    h.insert(b"f", &[b'x'; 64], &LIM);
    assert!(h.is_small());
    h.insert(b"g", &[b'x'; 65], &LIM);
    assert!(!h.is_small());
    // Never back, even when it shrinks.
    h.remove(b"g");
    assert!(!h.is_small());
    assert_eq!(h.get(b"f").map(<[u8]>::len), Some(64));
}

#[test]
fn table_operations_and_random() {
    let mut h = Hash::new();
    for i in 0..1000u32 {
        assert!(h.insert(&i.to_be_bytes(), &i.to_le_bytes(), &LIM));
    }
    assert!(!h.insert(&7u32.to_be_bytes(), b"seven", &LIM));
    assert_eq!(h.get(&7u32.to_be_bytes()), Some(&b"seven"[..]));
    assert_eq!(h.iter().count(), 1000);
    let mut seed = 99u64;
    for _ in 0..100 {
        assert!(h.random(crate::store::next_random(&mut seed)).is_some());
    }
    for i in 0..1000u32 {
        assert!(h.remove(&i.to_be_bytes()));
    }
    assert!(h.is_empty());
    assert_eq!(h.random(5), None);
    assert_eq!(h.scan(0, 10, |_, _| panic!("empty")), 0);
}

#[test]
fn pairs_hold_long_fields_and_values() {
    for (f, v) in [
        (0usize, 0usize),
        (127, 128),
        (128, 127),
        (20_000, 1),
        (3, 300_000),
    ] {
        let field: Vec<u8> = (0..f).map(|i| i as u8).collect();
        let value: Vec<u8> = (0..v).map(|i| (i * 7) as u8).collect();
        let mut p = Pair::new(&field, &value);
        assert_eq!(p.field(), &field[..]);
        assert_eq!(p.value(), &value[..]);
        p.set_value(b"short");
        assert_eq!(p.field(), &field[..]);
        assert_eq!(p.value(), b"short");
        assert_eq!(p.clone().value(), b"short");
    }
    assert_eq!(std::mem::size_of::<Hash>(), 16);
}

/// Random operations against a `HashMap` plus insertion order, with small limits so that
/// conversions happen, and long values to exercise multi-byte lengths.
#[test]
fn random_operations_match_a_model() {
    for (entries, value) in [(512, 64), (4, 10), (0, 64), (64, 200), (2000, 1000)] {
        let lim = Limits {
            hash_entries: entries,
            hash_value: value,
            ..LIM
        };
        let mut seed = 0xDEAD_BEEF ^ entries as u64;
        let mut h = Hash::new();
        let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let mut order: Vec<Vec<u8>> = Vec::new();
        for step in 0..4000 {
            let r = crate::store::next_random(&mut seed);
            let field = format!("f{}", r % 97).into_bytes();
            match r % 5 {
                0..=2 => {
                    let len = match (r >> 8) % 4 {
                        0 => 0,
                        1 => (r >> 12) as usize % 20,
                        2 => (r >> 12) as usize % 300,
                        _ => (r >> 12) as usize % 70,
                    };
                    let v = vec![b'a' + (r >> 40) as u8 % 26; len];
                    let new = h.insert(&field, &v, &lim);
                    assert_eq!(new, !model.contains_key(&field));
                    if new {
                        order.push(field.clone());
                    }
                    model.insert(field, v);
                }
                3 => {
                    let had = model.remove(&field).is_some();
                    assert_eq!(h.remove(&field), had);
                    order.retain(|f| *f != field);
                }
                _ => assert_eq!(h.get(&field), model.get(&field).map(|v| &v[..])),
            }
            assert_eq!(h.len(), model.len());
            if step % 200 == 0 || h.len() < 3 {
                let got: HashMap<Vec<u8>, Vec<u8>> =
                    h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
                assert_eq!(got, model);
                if h.is_small() {
                    let got: Vec<Vec<u8>> = h.iter().map(|(f, _)| f.to_vec()).collect();
                    assert_eq!(got, order, "packed hashes keep insertion order");
                    assert!(h.len() <= entries);
                }
            }
        }
    }
}
