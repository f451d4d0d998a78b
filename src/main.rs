fn main() -> std::process::ExitCode {
    alipay_pos::cli::run()
}
