fn main() -> std::process::ExitCode {
    borgwarehouse::cli::main()
}
