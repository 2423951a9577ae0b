//! Helpers shared by the gateway tests: an emulator with short schedules and
//! a client pointed at it.
#![allow(dead_code)]

pub mod raw;

use std::time::Duration;

use countersign::gateway::emulator::{
    self, EmulatorAccount, EmulatorConfig, EmulatorHandle, Ending, Progression, UnreachableRange,
};
use countersign::gateway::restcomm::{Flavour, RestcommClient, RestcommSettings, RetryPolicy};
use countersign::gateway::OutboundSms;
use countersign::phone::PhoneNumber;
use secrecy::SecretString;

pub const SID: &str = "ACae6e420f425248d6a26948c17a9e2acf";
/// md5("RestComm"): Restcomm's default admin token.
pub const TOKEN: &str = "77f8c12cc7b8f8423e5c38b035249166";
pub const PASSWORD: &str = "RestComm";
pub const EMAIL: &str = "administrator@company.com";
pub const SENDER: &str = "+15550001111";
pub const TO: &str = "+447911123456";
pub const UNREACHABLE_FAILED: &str = "+447400000666";
pub const UNREACHABLE_UNDELIVERED: &str = "+447400000777";
pub const OTHER_SID: &str = "ACffffffffffffffffffffffffffffffff";
pub const INACTIVE_SID: &str = "AC00000000000000000000000000000000";
pub const LIMITED_SID: &str = "AC11111111111111111111111111111111";

pub fn config(progression: Progression) -> EmulatorConfig {
    let mut main = EmulatorAccount::new(SID, TOKEN);
    main.email = Some(EMAIL.to_owned());
    let other = EmulatorAccount::new(OTHER_SID, "othertoken");
    let mut inactive = EmulatorAccount::new(INACTIVE_SID, "inactivetoken");
    inactive.active = false;
    let mut limited = EmulatorAccount::new(LIMITED_SID, "limitedtoken");
    limited.sms_limit = Some(0);
    EmulatorConfig {
        port: 0,
        accounts: vec![main, other, inactive, limited],
        progression,
        unreachable: vec![
            UnreachableRange::new(UNREACHABLE_FAILED, Ending::Failed),
            UnreachableRange::new(UNREACHABLE_UNDELIVERED, Ending::Undelivered),
        ],
    }
}

/// Tens of milliseconds, so nothing waits long.
pub fn fast() -> Progression {
    Progression {
        to_sent: Duration::from_millis(20),
        to_delivered: Duration::from_millis(60),
    }
}

pub async fn emulator() -> EmulatorHandle {
    emulator::start(config(fast()))
        .await
        .expect("emulator starts")
}

pub async fn manual_emulator() -> EmulatorHandle {
    emulator::start(config(Progression::manual()))
        .await
        .expect("emulator starts")
}

pub fn settings_for(em: &EmulatorHandle) -> RestcommSettings {
    RestcommSettings::new(SID, SecretString::from(TOKEN), SENDER).with_base_url(em.base_url())
}

pub fn quick(mut s: RestcommSettings) -> RestcommClient {
    s.connect_timeout = Duration::from_millis(300);
    s.request_timeout = Duration::from_millis(300);
    RestcommClient::new(s)
        .expect("valid settings")
        .with_retry(RetryPolicy {
            attempts: 3,
            first_backoff: Duration::from_millis(1),
        })
}

pub fn client(em: &EmulatorHandle) -> RestcommClient {
    RestcommClient::new(settings_for(em))
        .expect("valid settings")
        .with_retry(RetryPolicy {
            attempts: 3,
            first_backoff: Duration::from_millis(1),
        })
}

pub fn twilio_client(em: &EmulatorHandle) -> RestcommClient {
    let s = RestcommSettings::new(SID, SecretString::from(TOKEN), SENDER)
        .with_base_url(em.root_url())
        .with_flavour(Flavour::TwilioCompatible);
    RestcommClient::new(s).expect("valid settings")
}

pub fn sms(to: &str, body: &str) -> OutboundSms {
    OutboundSms {
        to: PhoneNumber::parse_any(to, "GB".parse().unwrap()).expect("test number parses"),
        body: SecretString::from(body.to_owned()),
    }
}
