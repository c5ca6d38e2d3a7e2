//! The `kx-events-local run` binary end to end against moto, with the `echo` example function.
//!
//! Needs `scripts/services.sh up && source .state/env` (fails otherwise).
mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_consumes_the_queue_and_prints_stats() {
    common::moto_endpoint();
    let sdk = kx_events_local::aws_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = format!("kx-local-cli-{}", uuid::Uuid::new_v4().simple());
    let (url, _dlq_url) = common::queue_with_dlq(&sqs, &name, 2, &[]).await;
    for body in ["a", "b", "c", "d", "please fail"] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    let env_file = std::env::temp_dir().join(format!("{name}.env"));
    std::fs::write(&env_file, "# for the function\nexport ECHO_DUMP=1\n").unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_kx-events-local"))
        .args(["run", "--queue-url", &url, "--bootstrap"])
        .arg(common::example("echo"))
        .args([
            "--window-ms",
            "300",
            "--retry-delay-s",
            "1",
            "--idle-exit-s",
            "3",
        ])
        .arg("--env-file")
        .arg(&env_file)
        .args(["--env", "EXTRA=1"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let stats = stdout
        .lines()
        .find(|l| l.starts_with("kx-events-local: "))
        .expect("stats line");
    assert!(stats.contains("deleted=4"), "{stats}");
    assert!(stats.contains("failed=2"), "{stats}");
    // The function's output is echoed (ECHO_DUMP came from the env file).
    assert!(stderr.contains("[bootstrap] event: "), "{stderr}");
    assert!(stderr.contains("spawn → first next"), "{stderr}");
    let _ = std::fs::remove_file(env_file);
}
