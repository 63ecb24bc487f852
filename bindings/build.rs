//! Link settings of the shared library.
//!
//! The NDK's clang packs an Android library's relative relocations by
//! default (Android's own format, `--pack-dyn-relocs=android`, from API 23;
//! RELR from API 28), so the `.so` the apps ship carries them compactly.
//! The x86_64 Linux build stands in for it when the library's size is
//! measured (no NDK here), so its optimised builds pack them too, with
//! RELR (GNU ld 2.38 or lld to link, glibc 2.36 to load). At the apps'
//! minSdk 26 Android's format applies, which is somewhat larger than RELR,
//! so the stand-in measures a little under what ships. Debug builds, which
//! only tests load, are left as the toolchain makes them.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let optimised = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    if os == "linux" && env == "gnu" && optimised {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
