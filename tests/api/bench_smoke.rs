//! The benchmark runs once in smoke mode (two connections, a second per scenario), so it
//! cannot rot: every scenario must complete requests without errors. Timings are not
//! asserted here; they are noisy and belong to bench/run.sh.

use std::process::Command;

#[test]
fn the_benchmark_runs_in_smoke_mode() {
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let output = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "--quiet",
            "--locked",
            "-p",
            "dingtalk-bench",
            "--",
            "--smoke",
            "--binary",
            env!("CARGO_BIN_EXE_dingtalk-login"),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The status says how it ended (a code, or the signal that killed it).
    assert!(
        output.status.success(),
        "{:?}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    for scenario in [
        "/healthz",
        "/api/me",
        "returning user",
        "first time",
        "/api/token/refresh",
        "/api/login",
    ] {
        assert!(
            stdout.contains(scenario),
            "{scenario} missing from:\n{stdout}"
        );
    }
}
