//! With the `link` feature: find DPDK through `pkg-config libdpdk`, compile the C shim with
//! every one of its cflags (`-include rte_config.h -march=corei7` included) and link DPDK's
//! shared libraries (the EAL then loads the PMDs from its plugin directory by itself).
//! Without it: nothing.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "link")]
    link();
}

#[cfg(feature = "link")]
fn link() {
    println!("cargo:rerun-if-changed=shim/shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let missing = |e: &dyn std::fmt::Display| -> ! {
        panic!(
            "sluice-dpdk-sys (feature `link`/`dpdk`): DPDK not found through `pkg-config libdpdk`: \
             {e}\ninstall it (Debian: apt-get install libdpdk-dev pkg-config) or set PKG_CONFIG_PATH; \
             or build without `--features dpdk`"
        )
    };
    let lib = pkg_config::Config::new()
        .atleast_version("22.11")
        .cargo_metadata(true)
        .probe("libdpdk")
        .unwrap_or_else(|e| missing(&e));
    // pkg-config's Library keeps only -I/-D; the shim needs every flag (`-include
    // rte_config.h`, `-march=corei7`), so ask the command itself.
    let out =
        std::process::Command::new(std::env::var("PKG_CONFIG").unwrap_or("pkg-config".into()))
            .args(["--cflags", "libdpdk"])
            .output()
            .unwrap_or_else(|e| missing(&e));
    if !out.status.success() {
        missing(&String::from_utf8_lossy(&out.stderr));
    }
    let cflags = String::from_utf8(out.stdout).expect("pkg-config output is UTF-8");
    let mut build = cc::Build::new();
    build.file("shim/shim.c").warnings(true).opt_level(3);
    for f in cflags.split_whitespace() {
        build.flag(f);
    }
    build.compile("sluice_dpdk_shim");
    println!("cargo:version={}", lib.version);
}
