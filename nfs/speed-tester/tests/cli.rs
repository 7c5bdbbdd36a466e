//! The binary's command line: `--help` documents the SDK's options, and running without a
//! manager fails with a message naming the socket.

#[test]
fn command_line() {
    sluice_nf::cli_check::check(env!("CARGO_BIN_EXE_sluice-speed-tester"), &[]);
}
