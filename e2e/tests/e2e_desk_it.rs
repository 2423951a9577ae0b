//! End-to-end, as branch staff and IT meet the desk: every screen works in
//! the window sizes a branch's screens leave (1280x650 and 1024x640), a
//! verification runs in French from the computer's locale, and the About
//! panel shows the desk's facts and copies support information with no
//! secret in it. See `e2e/src/lib.rs` for the harness.

#[path = "../../tests/log_support/mod.rs"]
mod log_support;

use countersign_e2e::{code_in, wait_js, App, Desk, TestGateway};
use log_support::{scan, Secrets};
use serde_json::Value;

const CUSTOMER: (&str, &str) = ("+447400123456", "07400 123456");

/// Every visible control: focusable, and once focused (which scrolls it into
/// view) wholly inside the window and not under the sticky top bar. The
/// page itself never scrolls sideways.
const FITS: &str = r#"
const vw = document.documentElement.clientWidth, vh = window.innerHeight;
const problems = [];
const name = (el) => el ? (el.dataset.testid || el.id || el.getAttribute("href") || el.tagName) : "nothing";
if (document.documentElement.scrollWidth > vw + 1) {
  problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${vw}`);
}
const controls = [...document.querySelectorAll("a[href], button, input, select, textarea")]
  // The skip link sits above the page until the keyboard reaches it
  // (tests/e2e.rs walks it with Tab).
  .filter((el) => el.getClientRects().length > 0 && !el.disabled && el.tabIndex >= 0
    && !el.classList.contains("skip-link"));
for (const el of controls) {
  el.focus();
  if (document.activeElement !== el) { problems.push(`${name(el)} cannot take the focus`); continue; }
  el.scrollIntoView({ block: "nearest", inline: "nearest" });
  const r = el.getBoundingClientRect();
  if (r.left < -1 || r.right > vw + 1 || r.top < -1 || r.bottom > vh + 1) {
    problems.push(`${name(el)} is outside the window at ${Math.round(r.left)},${Math.round(r.top)} ${Math.round(r.width)}x${Math.round(r.height)}`);
    continue;
  }
  const x = r.left + Math.min(r.width / 2, 8), y = r.top + r.height / 2;
  const hit = document.elementFromPoint(x, y);
  const label = el.closest("label");
  if (!hit || !(el === hit || el.contains(hit) || hit.contains(el) || (label && label.contains(hit)))) {
    problems.push(`${name(el)} is covered by ${name(hit)}`);
  }
}
// Every keyed word on screen has its text (a template left untranslated
// shows as empty labels and blank buttons).
for (const el of document.querySelectorAll("[data-i18n]")) {
  if (el.getClientRects().length > 0 && !el.textContent.trim()) problems.push(`${name(el)} (${el.dataset.i18n}) is empty`);
}
document.activeElement.blur();
window.scrollTo(0, 0);
return { controls: controls.length, problems };
"#;

async fn check_fits(app: &App, screen: &str, size: (u32, u32)) {
    app.execute(&format!("location.hash = '#/{screen}';")).await;
    // The screen's own content arrives from Rust after the route changes.
    let mut last = Value::Null;
    for _ in 0..20 {
        last = app.execute(FITS).await;
        if last["controls"].as_u64().unwrap_or(0) > 3 && last["problems"] == Value::Array(vec![]) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("{screen} at {}x{}: {last:#}", size.0, size.1);
}

#[tokio::test]
async fn every_screen_works_at_1280x650_and_1024x640() {
    let desk = Desk::demo();
    let app = desk.open().await;
    // A desk in use: a pending card and a result panel on screen.
    let first = app.send(CUSTOMER.1, "Cash withdrawal").await;
    app.card_click(&first, "cancel").await;
    app.wait("the cancel to show", |s| {
        (s.outcome() == Some("cancelled")).then_some(())
    })
    .await;
    app.send("07400 123457", "Card replacement").await;
    for size in [(1280, 650), (1024, 640)] {
        app.resize(size.0, size.1).await;
        for screen in ["desk", "activity", "settings", "about"] {
            check_fits(&app, screen, size).await;
        }
    }
    app.close().await;
}

#[tokio::test]
async fn a_verification_runs_in_french_from_the_computers_locale() {
    let desk = Desk::with_env(&[("LANG", "fr_FR.UTF-8")]);
    let app = desk.open().await;
    let words = app
        .execute(
            r#"return [document.documentElement.lang,
                       document.querySelector('[data-testid="send"]').textContent,
                       document.getElementById("new-title").textContent,
                       document.querySelector('[data-testid="nav-about"]').textContent];"#,
        )
        .await;
    assert_eq!(
        words,
        serde_json::json!(["fr", "Envoyer le code", "Nouvelle vérification", "À propos"])
    );

    // A refusal from Rust, in French.
    app.type_into("phone", "12").await;
    app.click("send").await;
    let error = app
        .wait("the refusal", |s| {
            (!s.error.is_empty()).then(|| s.error.clone())
        })
        .await;
    assert_eq!(
        error,
        "Ce numéro n'existe pas dans le pays GB. Vérifiez les chiffres avec le client."
    );

    app.clear("phone").await;
    let id = app.send(CUSTOMER.1, "Retrait").await;
    let card = app
        .wait("the delivery in French", |s| {
            s.card(&id)
                .filter(|c| {
                    c.delivery.contains("Remis au téléphone") || c.delivery.contains("Transmis")
                })
                .cloned()
        })
        .await;
    assert!(card.resend_text.starts_with("Renvoyer"), "{card:?}");
    // The card comes from a template, translated with the page.
    let check = app
        .execute(r#"return document.querySelector('[data-testid="check"]').textContent;"#)
        .await;
    assert_eq!(check, "Vérifier");
    let code = app.code_from_phone("Retrait", 1).await;
    app.check(&id, &code).await;
    let result = app
        .wait("the verdict", |s| {
            s.result
                .clone()
                .filter(|r| r.outcome == "approved" && s.card(&id).is_none())
        })
        .await;
    assert!(result.text.contains("Vérifié"), "{result:?}");
    assert!(
        result.text.contains("Le client a lu le bon code."),
        "{result:?}"
    );
    app.close().await;
}

const SID: &str = "ACe2e0000000000000000000000000091";
const TOKEN: &str = "e2e-about-token-7c1f2a9e";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn about_shows_the_desk_and_copies_support_information_without_secrets() {
    let gateway = TestGateway::start(SID, TOKEN).await;
    let desk = Desk::on_gateway(&gateway, &[]);
    let app = desk.open().await;
    app.send(CUSTOMER.1, "Loan 12").await;
    let code = gateway
        .inbox()
        .iter()
        .find_map(|m| code_in(&m.body))
        .expect("a code reached the gateway");

    app.click("nav-about").await;
    let data_dir = desk.data_dir().display().to_string();
    let shown = wait_js(
        &app,
        "the About panel",
        r#"return ["about-version", "about-gateway-mode", "about-data-folder", "about-log-folder", "about-policy"]
             .map((id) => document.querySelector(`[data-testid="${id}"]`).textContent);"#,
        |v| v[0].as_str().is_some_and(|t| !t.is_empty()),
    )
    .await;
    assert_eq!(shown[0], env!("CARGO_PKG_VERSION"), "{shown}");
    assert_eq!(shown[1], "restcomm", "{shown}");
    assert_eq!(shown[2], data_dir.as_str(), "{shown}");
    assert!(shown[3].as_str().unwrap().starts_with(&data_dir), "{shown}");

    app.click("copy-support").await;
    let text = wait_js(
        &app,
        "the support text",
        r#"return document.querySelector('[data-testid="support-text"]').value;"#,
        |v| {
            v.as_str()
                .is_some_and(|t| t.contains("Countersign support information"))
        },
    )
    .await;
    let text = text.as_str().expect("text").to_owned();
    app.close().await;
    for wanted in [
        "Gateway mode: restcomm",
        &format!("Data folder: {data_dir}"),
    ] {
        assert!(text.contains(wanted), "{wanted} missing:\n{text}");
    }
    // Scanned as the log files are: no code, token or full number.
    let copy = tempfile::tempdir().expect("dir");
    std::fs::write(copy.path().join("support.txt"), &text).expect("write");
    let secrets = Secrets::default()
        .code(&code)
        .token(TOKEN)
        .number(CUSTOMER.0, CUSTOMER.1);
    let leaks = scan(copy.path(), &secrets).expect("scan");
    assert!(leaks.is_empty(), "{leaks:?} in\n{text}");
}
