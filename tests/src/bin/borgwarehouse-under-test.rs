//! The server binary, built inside this package so that its tests can run it as a process
//! (`CARGO_BIN_EXE_borgwarehouse-under-test`); cargo offers that only for a package's own bins.
fn main() -> std::process::ExitCode {
    borgwarehouse::cli::main()
}
