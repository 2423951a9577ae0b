//! Countersign's desktop shell: it wires the core to a Tauri window.

#[tauri::command]
fn app_status() -> &'static str {
    "demo"
}

pub fn run() {
    tauri::Builder::default()
        .plugin(tauri_plugin_store::Builder::default().build())
        .invoke_handler(tauri::generate_handler![app_status])
        .run(tauri::generate_context!())
        .expect("error while running Countersign");
}
