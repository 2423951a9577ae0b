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
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build script failed");
}
