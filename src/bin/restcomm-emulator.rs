//! A Restcomm-compatible SMS gateway on 127.0.0.1, for demos and manual tests.
//!
//! ```text
//! restcomm-emulator [--port 8089] [--account ACxxxx] [--token token] [--email a@b]
//! ```
//!
//! Prints the base URL, then one line per accepted SMS. Stop it with Ctrl-C.

use std::process::ExitCode;

use countersign::gateway::emulator::{self, EmulatorAccount, EmulatorConfig};

const USAGE: &str = "\
usage: restcomm-emulator [--port PORT] [--account ACCOUNT_SID] [--token AUTH_TOKEN] [--email EMAIL]

  --port     TCP port on 127.0.0.1 (default 8089; 0 picks a free one)
  --account  Account SID, 2 to 64 letters and digits (default: the demo SID)
  --token    auth token; clients may send it or its MD5 pre-image (default: random)
  --email    an e-mail address also accepted as the Basic-auth user
  --help     this text";

struct Args {
    port: u16,
    account: Option<String>,
    token: Option<String>,
    email: Option<String>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut out = Args {
        port: 8089,
        account: None,
        token: None,
        email: None,
    };
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => {
                let v = value()?;
                out.port = v
                    .parse()
                    .map_err(|_| format!("--port: `{v}` is not a port number"))?;
            }
            "--account" => {
                let v = value()?;
                if !(2..=64).contains(&v.len()) || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(format!(
                        "--account: `{v}` is not 2 to 64 letters and digits"
                    ));
                }
                out.account = Some(v);
            }
            "--token" => {
                let v = value()?;
                if v.is_empty() {
                    return Err("--token: the token is empty".to_owned());
                }
                out.token = Some(v);
            }
            "--email" => out.email = Some(value()?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Some(out))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("restcomm-emulator: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut config = EmulatorConfig::demo();
    config.port = args.port;
    let demo = config.accounts.remove(0);
    let mut account = EmulatorAccount::new(
        args.account.unwrap_or(demo.sid),
        args.token.unwrap_or(demo.token),
    );
    account.email = args.email;
    config.accounts.push(account);

    let handle = match emulator::start(config).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!(
                "restcomm-emulator: cannot listen on 127.0.0.1:{}: {e}",
                args.port
            );
            return ExitCode::FAILURE;
        }
    };
    let account = &handle.accounts()[0];
    println!("Restcomm emulator listening");
    println!("  base URL:    {}", handle.base_url());
    println!("  account SID: {}", account.sid);
    println!("  auth token:  {}", account.token);
    println!(
        "  send:        POST {}/2012-04-24/Accounts/{}/SMS/Messages.json",
        handle.base_url(),
        account.sid
    );
    let mut inbox = handle.subscribe();
    loop {
        match inbox.recv().await {
            Ok(m) => println!(
                "{} SMS {} from {} to {}: {}",
                m.received_at.format("%H:%M:%S"),
                m.sid,
                m.from,
                m.to,
                m.body
            ),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                println!("({n} messages not shown)")
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return ExitCode::SUCCESS,
        }
    }
}
