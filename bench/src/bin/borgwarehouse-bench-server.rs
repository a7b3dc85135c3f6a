//! The server binary, built in this package so the bench can start it as a process.
fn main() -> std::process::ExitCode {
    borgwarehouse::cli::main()
}
