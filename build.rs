//! Compiles the small C helper for Redis's long-double INCRBYFLOAT arithmetic.
fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    cc::Build::new()
        .file("csrc/longdouble.c")
        .warnings(true)
        .compile("keyval_longdouble");
}
