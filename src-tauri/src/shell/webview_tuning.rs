//! WebKitGTK settings that cut the window's memory (BENCHMARKS.md,
//! "Footprint", has the measurement behind each).
//!
//! - No accelerated compositing: the desk is a form, not an animation, and
//!   compositing made WebKit keep a GL context and its buffers in both the
//!   web process and the app (Mesa's llvmpipe on machines without a GPU):
//!   about 84 MB PSS of the 314 measured. Unlike the environment variable
//!   WEBKIT_DISABLE_COMPOSITING_MODE, the setting leaves WebDriver
//!   screenshots working (the end-to-end suite passes with it).
//! - The "document viewer" cache model: one local page that never
//!   navigates has nothing for a browser-sized memory cache to keep.
//!
//! A plugin, so that it reaches each webview as it is created, and only on
//! the real (wry) runtime: the IPC tests' mock runtime has no WebKit.

use tauri::plugin::{Builder, TauriPlugin};
use tauri::Wry;

/// The desktop app's builder: Tauri's default with the tuning plugin.
pub(crate) fn builder() -> tauri::Builder<Wry> {
    tauri::Builder::default().plugin(plugin())
}

fn plugin() -> TauriPlugin<Wry> {
    Builder::new("webview-tuning")
        .on_webview_ready(|webview| {
            #[cfg(target_os = "linux")]
            if let Err(e) = webview.with_webview(|w| linux::tune(&w.inner())) {
                tracing::warn!(error = %e, "webview tuning not applied");
            }
            #[cfg(not(target_os = "linux"))]
            let _ = webview;
        })
        .build()
}

#[cfg(target_os = "linux")]
mod linux {
    use webkit2gtk::{
        CacheModel, HardwareAccelerationPolicy, SettingsExt, WebContextExt, WebViewExt,
    };

    pub(super) fn tune(view: &webkit2gtk::WebView) {
        if let Some(context) = view.context() {
            context.set_cache_model(CacheModel::DocumentViewer);
        }
        if let Some(settings) = WebViewExt::settings(view) {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    }
}
