fn main() {
    // An extension module leaves the interpreter's symbols undefined; macOS's
    // linker needs to be told so (maturin says it itself, cargo does not).
    pyo3_build_config::add_extension_module_link_args();
}
