//! `uniffi-bindgen`, built from the workspace's pinned uniffi, so generated
//! bindings always match the scaffolding compiled into `praxis-ffi`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
