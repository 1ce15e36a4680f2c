use std::collections::VecDeque;

use super::*;

fn list_of(items: &[&str]) -> List {
    let mut l = List::new();
    for i in items {
        l.push_back(i.as_bytes());
    }
    l
}

fn contents(l: &List) -> Vec<String> {
    l.iter()
        .map(|e| String::from_utf8_lossy(&e.to_vec()).into_owned())
        .collect()
}

fn at(l: &List, i: usize) -> Option<Vec<u8>> {
    l.get(i).map(Elem::to_vec)
}

#[test]
fn push_pop_both_ends() {
    let mut l = List::new();
    l.push_back(b"b");
    l.push_front(b"a");
    l.push_back(b"c");
    assert_eq!(contents(&l), ["a", "b", "c"]);
    assert_eq!(l.pop(true).as_deref(), Some(&b"a"[..]));
    assert_eq!(l.pop(false).as_deref(), Some(&b"c"[..]));
    assert_eq!(l.len(), 1);
    assert_eq!(at(&l, 0).as_deref(), Some(&b"b"[..]));
    assert_eq!(l.get(1), None);
    assert_eq!(l.pop(false).as_deref(), Some(&b"b"[..]));
    assert_eq!(l.pop(false), None);
    assert_eq!(l.pop(true), None);
}

#[test]
fn remove_matching_from_either_end() {
    let mut l = list_of(&["a", "b", "a", "c", "a"]);
    assert_eq!(l.remove_matching(b"a", 1, true, DEFAULT_FILL), 1);
    assert_eq!(contents(&l), ["a", "b", "a", "c"]);
    assert_eq!(l.remove_matching(b"a", 1, false, DEFAULT_FILL), 1);
    assert_eq!(contents(&l), ["b", "a", "c"]);
    assert_eq!(l.remove_matching(b"z", 3, false, DEFAULT_FILL), 0);
    assert_eq!(l.remove_matching(b"a", 0, false, DEFAULT_FILL), 1);
    assert_eq!(contents(&l), ["b", "c"]);
}

#[test]
fn integers_are_packed_and_read_back_as_text() {
    let mut l = List::new();
    for i in 0..1_000_000u32 {
        l.push_back((i % 1000).to_string().as_bytes());
    }
    // 1M small integers: 1 or 2 bytes each, in 8 KiB nodes.
    assert!(l.heap_size() < 2_000_000, "{}", l.heap_size());
    assert!(l.node_count() > 200, "{}", l.node_count());
    assert_eq!(at(&l, 999_999).as_deref(), Some(&b"999"[..]));
    assert_eq!(at(&l, 500_127).as_deref(), Some(&b"127"[..]));
    assert_eq!(
        l.iter().rev().nth(1).map(Elem::to_vec),
        Some(b"998".to_vec())
    );
    // Text that only looks numeric stays text.
    l.push_front(b"007");
    l.push_front(b"-0");
    assert_eq!(at(&l, 0).as_deref(), Some(&b"-0"[..]));
    assert_eq!(at(&l, 1).as_deref(), Some(&b"007"[..]));
}

#[test]
fn trim_keeps_the_middle() {
    let mut l = List::new();
    for i in 0..10_000u32 {
        l.push_back(&i.to_be_bytes());
    }
    l.trim(100, 9_890);
    assert_eq!(l.len(), 10);
    assert_eq!(at(&l, 0).as_deref(), Some(&100u32.to_be_bytes()[..]));
    assert_eq!(l.node_count(), 1);
    l.trim(10, 0);
    assert!(l.is_empty());
}

#[test]
fn insert_set_and_position() {
    let mut l = list_of(&["a", "c"]);
    let at_c = l.position(b"c").expect("found");
    l.insert(at_c, b"b", DEFAULT_FILL);
    let len = l.len();
    l.insert(len, b"d", DEFAULT_FILL);
    assert_eq!(contents(&l), ["a", "b", "c", "d"]);
    assert!(l.set(3, b"e", DEFAULT_FILL));
    assert!(!l.set(4, b"f", DEFAULT_FILL));
    assert_eq!(contents(&l).concat(), "abce");
    let mid: Vec<Vec<u8>> = l.range(1, 2).map(Elem::to_vec).collect();
    assert_eq!(mid, [b"b".to_vec(), b"c".to_vec()]);
}

#[test]
fn huge_elements_get_nodes_of_their_own() {
    let mut l = List::new();
    let big = vec![b'x'; 100_000];
    for i in 0..5 {
        l.push_back(&big);
        l.push_back(i.to_string().as_bytes());
    }
    assert_eq!(l.len(), 10);
    assert!(l.node_count() >= 5);
    assert_eq!(at(&l, 4).map(|v| v.len()), Some(100_000));
    assert_eq!(at(&l, 5).as_deref(), Some(&b"2"[..]));
    assert!(l.set(1, &big, DEFAULT_FILL));
    assert_eq!(l.remove_matching(&big, 0, false, DEFAULT_FILL), 6);
    // Element 1 ("0") was overwritten by a big one.
    assert_eq!(contents(&l), ["1", "2", "3", "4"]);
}

/// Random operations against a `VecDeque` model, with several node limits (positive
/// counts give many tiny nodes, so node boundaries are crossed all the time).
#[test]
fn random_operations_match_a_model() {
    for fill in [-2i64, -1, 1, 2, 5, 0, -5] {
        let mut seed = 0x9E37_79B9 ^ fill as u64;
        let mut l = List::new();
        let mut model: VecDeque<Vec<u8>> = VecDeque::new();
        let value = |r: u64| -> Vec<u8> {
            match r % 6 {
                0 => (r % 300).to_string().into_bytes(),
                1 => ((r >> 8) as i64 - (1 << 40)).to_string().into_bytes(),
                2 => vec![b'v'; (r >> 16) as usize % 100],
                3 => vec![b'w'; 4000 + (r >> 16) as usize % 9000],
                4 => format!("0{}", r % 10).into_bytes(),
                _ => format!("e{}", r % 7).into_bytes(),
            }
        };
        for step in 0..6000 {
            let r = crate::store::next_random(&mut seed);
            let v = value(r >> 8);
            match r % 11 {
                0..=2 => {
                    l.push(&v, r & 256 != 0, fill);
                    if r & 256 != 0 {
                        model.push_front(v);
                    } else {
                        model.push_back(v);
                    }
                }
                3 | 4 => {
                    let front = r & 256 != 0;
                    let got = l.pop(front).map(|b| b.to_vec());
                    let want = if front {
                        model.pop_front()
                    } else {
                        model.pop_back()
                    };
                    assert_eq!(got, want);
                }
                5 if !model.is_empty() => {
                    let i = (r >> 20) as usize % model.len();
                    assert!(l.set(i, &v, fill));
                    model[i] = v;
                }
                6 => {
                    let i = (r >> 20) as usize % (model.len() + 1);
                    l.insert(i, &v, fill);
                    model.insert(i, v);
                }
                7 => {
                    let limit = (r >> 20) as usize % 3;
                    let tail = r & 512 != 0;
                    let target = value(r >> 30);
                    let got = l.remove_matching(&target, limit, tail, fill);
                    let mut idx: Vec<usize> =
                        (0..model.len()).filter(|&i| model[i] == target).collect();
                    if tail {
                        idx.reverse();
                    }
                    if limit > 0 {
                        idx.truncate(limit);
                    }
                    idx.sort_unstable();
                    for i in idx.iter().rev() {
                        model.remove(*i);
                    }
                    assert_eq!(got, idx.len());
                }
                8 if model.len() > 4 && step % 7 == 0 => {
                    let head = (r >> 20) as usize % (model.len() / 3);
                    let tail = (r >> 40) as usize % (model.len() / 3);
                    l.trim(head, tail);
                    model.drain(..head);
                    for _ in 0..tail {
                        model.pop_back();
                    }
                }
                _ if !model.is_empty() => {
                    let i = (r >> 20) as usize % model.len();
                    assert_eq!(at(&l, i).as_ref(), Some(&model[i]), "fill {fill}");
                    let j = i + (r >> 50) as usize % (model.len() - i);
                    let got: Vec<Vec<u8>> = l.range(i, j).map(Elem::to_vec).collect();
                    let want: Vec<Vec<u8>> = model.range(i..=j).cloned().collect();
                    assert_eq!(got, want);
                }
                _ => {}
            }
            assert_eq!(l.len(), model.len());
            if step % 500 == 0 {
                let fwd: Vec<Vec<u8>> = l.iter().map(Elem::to_vec).collect();
                assert_eq!(fwd, Vec::from(model.clone()), "fill {fill} step {step}");
                let back: Vec<Vec<u8>> = l.iter().rev().map(Elem::to_vec).collect();
                assert_eq!(back.len(), model.len());
                assert!(back.iter().eq(model.iter().rev()));
            }
        }
    }
}
