//! With the `tch` feature, binaries, tests and examples find libtorch at run time without
//! LD_LIBRARY_PATH: torch-sys reports its library folder, and we add it as the run path.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
