//! Putting a configuration into force, at start and after every save: the
//! desk takes the new limits and templates, the audit log the new station,
//! and the gateway is rebuilt only when its settings changed (demo mode's
//! emulator, with the demo phone's messages, survives unrelated saves).

use std::sync::Arc;

use countersign::config::{self, DeskConfig, GatewayChoice};
use countersign::gateway::GatewayMode;
use tauri::{AppHandle, Manager, Runtime};

use super::gateway::{self as gateway_setup, GatewaySetup};
use crate::shell::{station_of, ConfigRefusal, GatewaySlot, NoGateway, Shell};

/// Builds the gateway for `resolved`. A configuration error is the reason
/// no SMS can be sent, shown in Settings and on send.
pub(crate) async fn build_gateway(
    shell: &Shell,
    resolved: &Result<DeskConfig, ConfigRefusal>,
) -> GatewaySlot {
    let config = resolved.as_ref().map_err(Clone::clone)?;
    // On a snapshot: the credential store may wait on the OS.
    let snapshot = shell
        .config(|c| c.clone())
        .map_err(|_| NoGateway::Poisoned)?;
    if let Some(why) = snapshot.gateway_refusal(config) {
        return Err(why.into());
    }
    match &config.gateway {
        GatewayChoice::Demo => Ok(Arc::new(gateway_setup::demo().await?)),
        GatewayChoice::Real(real) => {
            let token = snapshot.token(real)?;
            let setup = gateway_setup::real(real, token, &snapshot.proxy_env)?;
            // From now on, losing the settings must not drop this desk to
            // demo mode silently. (A gateway from the environment is a
            // script's or a test's, where IT left room for it: it does not
            // make the desk a real one.)
            if let (Some(facts), None) = (&snapshot.facts, &snapshot.env) {
                facts
                    .update(|f| f.real_gateway_configured = true)
                    .map_err(|e| NoGateway::SealedRecord(Arc::new(e)))?;
            }
            Ok(Arc::new(setup))
        }
    }
}

/// Applies a resolved configuration to the running desk. The gateway is
/// rebuilt when its settings or its token changed, or when there is none.
pub(crate) async fn put_in_force<R: Runtime>(
    app: &AppHandle<R>,
    resolved: Result<DeskConfig, ConfigRefusal>,
    token_changed: bool,
) {
    let shell = app.state::<Shell>();
    if let Ok(config) = &resolved {
        let station = shell.config(|c| station_of(&c.layers())).ok();
        let _ = shell.with_desk(|desk| {
            desk.reconfigure(config.policy.clone(), config.templates.clone());
            if let Some(station) = station {
                desk.audit_sink_mut().set_station(station);
            }
            Ok(())
        });
    }
    let built_from = resolved.as_ref().ok().map(|c| c.gateway.clone());
    let has_gateway = shell.mode().is_some();
    let rebuild = config::gateway_needs_rebuild(
        shell.gateway_built_from().as_ref(),
        built_from.as_ref(),
        has_gateway,
        token_changed,
    );
    if !rebuild {
        return;
    }
    let slot = build_gateway(&shell, &resolved).await;
    let demo = matches!(&slot, Ok(g) if g.mode == GatewayMode::Demo);
    if let Err(why) = &slot {
        tracing::warn!(%why, "no gateway");
    }
    shell.set_gateway_built_from(if slot.is_ok() { built_from } else { None });
    shell.set_gateway(slot);
    if demo {
        crate::shell::demo_inbox::forward_inbox(app);
    }
}

/// The gateway a test (or the caller) supplies, put in place as is.
pub(crate) fn install(shell: &Shell, setup: GatewaySetup) {
    shell.set_gateway(Ok(Arc::new(setup)));
}
