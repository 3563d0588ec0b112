#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    dingtalk_login::cli::main()
}
