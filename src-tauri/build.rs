/// The app's own commands. Declaring them turns the ACL on for them: the
/// window may call only what `capabilities/` grants (S18).
const COMMANDS: &[&str] = &[
    "app_status",
    "start_verification",
    "resend_code",
    "check_code",
    "cancel_verification",
    "list_pending",
    "demo_inbox",
    "set_operator",
    "ui_ready",
    "ui_text",
    "about",
    "sign_in",
    "lock_desk",
    "still_here",
    "audit_query",
    "audit_verify",
    "audit_export",
    "audit_key_export",
    "settings_read",
    "settings_check",
    "settings_save",
    "send_test_sms",
    "test_sms_status",
];

fn main() {
    build_id();
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build script failed");
}

/// `COUNTERSIGN_BUILD`: the commit the app is built from, for the About
/// panel and support tickets; "unknown" outside a git checkout (a source
/// tarball), never a failed build.
fn build_id() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=COUNTERSIGN_BUILD={commit}");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
}
