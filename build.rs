//! Compiles the Slint UI (`ui/app.slint` and everything it imports) into Rust, with the
//! Chinese translation from `ui/lang/` bundled into the binary so the language can be
//! switched at run time without gettext or files next to the executable.
//!
//! Only with the `gui` feature (on by default): a build without it has no Slint at all, not
//! even at build time, so there is nothing to compile here.
//!
//! It also packs the binary's relocations (below).

fn main() {
    pack_relative_relocations();
    #[cfg(feature = "gui")]
    compile_ui();
    #[cfg(not(feature = "gui"))]
    // Without this line cargo would run the script again after any change in the package.
    println!("cargo::rerun-if-changed=build.rs");
}

#[cfg(feature = "gui")]
fn compile_ui() {
    // Debug info lets the headless GUI tests find controls by their `accessible-label`;
    // release builds leave it out.
    let profile = std::env::var("PROFILE").unwrap_or_default();
    let config = slint_build::CompilerConfiguration::new()
        .with_style("fluent-light".into())
        .with_bundled_translations("ui/lang")
        // Messages in the .po files carry no context, so one English string has one
        // translation wherever it appears.
        .with_default_translation_context(slint_build::DefaultTranslationContext::None)
        .with_debug_info(profile != "release");
    if let Err(error) = slint_build::compile_with_config("ui/app.slint", config) {
        eprintln!("cannot compile the Slint UI: {error}");
        std::process::exit(1);
    }
}

/// Links `alipay-pos` with `-z pack-relative-relocs` on Linux with glibc: a position-independent
/// executable (kept for ASLR) carries one 24-byte `.rela.dyn` entry per pointer in its data,
/// about 1.2 MB here, which the packed `.relr.dyn` form stores in a few KB (README, "Binary
/// size"). It needs GNU ld 2.38 or later to link and glibc 2.36 or later to run (Debian 12
/// has 2.40 and 2.36); the package's automatic dependencies then ask for that glibc. Only
/// the binaries: the test and bench executables are linked as before.
fn pack_relative_relocations() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if target_os == "linux" && target_env == "gnu" {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
