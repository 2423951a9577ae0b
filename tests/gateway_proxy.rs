//! IT's `gateway_proxy`: `none`, `system` or an address, and which client
//! setting each gives, with and without a system policy in force (S19).
//! The traffic itself is proved in `gateway_environment.rs`, with the
//! variables set on a child process.

use countersign::config::Key;
use countersign::gateway::proxy::{
    effective_route, parse_environment_file, route, ProxyChoice, ProxyEnvironment, ProxyPlatform,
    ProxyRoute,
};
use serde_json::json;
use url::Url;

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

#[test]
fn the_setting_parses_into_none_system_or_an_address() {
    assert_eq!(ProxyChoice::parse(""), Ok(ProxyChoice::None));
    assert_eq!(ProxyChoice::parse(" none "), Ok(ProxyChoice::None));
    assert_eq!(ProxyChoice::parse("SYSTEM"), Ok(ProxyChoice::System));
    assert_eq!(
        ProxyChoice::parse("http://proxy.bank.example:3128"),
        Ok(ProxyChoice::Url(url("http://proxy.bank.example:3128/")))
    );
    for (bad, says) in [
        ("systen", "not a web address"),
        (
            "proxy.bank.example",
            "must be system, none, or a proxy address",
        ),
        ("socks5://proxy:1080", "http:// or https://"),
        ("http://user:pw@proxy:3128", "user name or password"),
        (
            "http://proxy:3128/pac.js",
            "only a scheme, a host and a port",
        ),
    ] {
        let message = ProxyChoice::parse(bad).unwrap_err().to_string();
        assert!(message.contains(says), "{bad}: {message}");
    }
}

#[test]
fn the_key_keeps_its_normal_form_and_names_itself_in_errors() {
    assert_eq!(Key::GatewayProxy.check(&json!("")), Ok(json!("")));
    assert_eq!(Key::GatewayProxy.check(&json!("None")), Ok(json!("none")));
    assert_eq!(
        Key::GatewayProxy.check(&json!("system")),
        Ok(json!("system"))
    );
    let message = Key::GatewayProxy
        .check(&json!("automatic"))
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("The gateway proxy is not a web address"),
        "{message}"
    );
    assert!(message.contains("system, none"), "{message}");
}

fn env(system_policy: bool, vars: &[&'static str], machine: Option<&str>) -> ProxyEnvironment {
    ProxyEnvironment {
        system_policy,
        process_variables: vars.to_vec(),
        machine_environment: machine.map(str::to_owned),
    }
}

#[test]
fn none_and_an_address_mean_the_same_everywhere() {
    let it = url("http://proxy.bank.example:3128/");
    for platform in [ProxyPlatform::Variables, ProxyPlatform::OsSettings] {
        for e in [
            env(false, &[], None),
            env(
                true,
                &["HTTPS_PROXY"],
                Some("HTTPS_PROXY=http://user.example:1"),
            ),
        ] {
            assert_eq!(
                route(&ProxyChoice::None, &e, platform),
                Ok(ProxyRoute::Direct)
            );
            assert_eq!(
                route(&ProxyChoice::Url(it.clone()), &e, platform),
                Ok(ProxyRoute::Via {
                    url: it.clone(),
                    no_proxy: None
                })
            );
        }
    }
}

#[test]
fn system_without_a_system_policy_is_reqwest_s_system_proxy() {
    for platform in [ProxyPlatform::Variables, ProxyPlatform::OsSettings] {
        assert_eq!(
            route(
                &ProxyChoice::System,
                &env(false, &["HTTPS_PROXY"], None),
                platform
            ),
            Ok(ProxyRoute::Os)
        );
    }
}

#[test]
fn system_under_a_system_policy_on_linux_reads_etc_environment_only() {
    let machine = "# proxy for the branch\nhttps_proxy=\"http://proxy.bank.example:3128\"\nNO_PROXY=localhost,.bank.internal\n";
    // The process's own HTTPS_PROXY (the user's) plays no part.
    let e = env(true, &["HTTPS_PROXY"], Some(machine));
    assert_eq!(
        route(&ProxyChoice::System, &e, ProxyPlatform::Variables),
        Ok(ProxyRoute::Via {
            url: url("http://proxy.bank.example:3128/"),
            no_proxy: Some("localhost,.bank.internal".to_owned()),
        })
    );
    // "host:port" is an http:// proxy, as curl reads it; ALL_PROXY counts.
    let e = env(
        true,
        &[],
        Some("export ALL_PROXY=proxy.bank.example:8080\n"),
    );
    assert_eq!(
        route(&ProxyChoice::System, &e, ProxyPlatform::Variables),
        Ok(ProxyRoute::Via {
            url: url("http://proxy.bank.example:8080/"),
            no_proxy: None,
        })
    );
    // No proxy there (or no file): direct, whatever the process has.
    for machine in [
        None,
        Some(""),
        Some("PATH=/usr/bin\nhttp_proxy=http://p:1\n"),
    ] {
        let e = env(true, &["HTTPS_PROXY", "ALL_PROXY"], machine);
        assert_eq!(
            route(&ProxyChoice::System, &e, ProxyPlatform::Variables),
            Ok(ProxyRoute::Direct),
            "{machine:?}"
        );
    }
    // A proxy there that cannot be used stops sending, naming the file.
    let e = env(true, &[], Some("HTTPS_PROXY=http://u:p@proxy:3128\n"));
    let why = route(&ProxyChoice::System, &e, ProxyPlatform::Variables)
        .unwrap_err()
        .to_string();
    assert!(
        why.contains("/etc/environment") && why.contains("user name or password"),
        "{why}"
    );
}

#[test]
fn system_under_a_system_policy_on_windows_and_macos_refuses_a_proxy_variable() {
    let e = env(true, &[], None);
    assert_eq!(
        route(&ProxyChoice::System, &e, ProxyPlatform::OsSettings),
        Ok(ProxyRoute::Os)
    );
    let e = env(true, &["all_proxy"], None);
    let why = route(&ProxyChoice::System, &e, ProxyPlatform::OsSettings)
        .unwrap_err()
        .to_string();
    assert!(why.starts_with("all_proxy is set"), "{why}");
    assert!(why.contains("Nothing is sent until then"), "{why}");
}

#[test]
fn the_proxy_environment_names_only_set_variables() {
    let e = ProxyEnvironment::read(false, &|k| match k {
        "HTTPS_PROXY" => Some("http://p:1".to_owned()),
        "http_proxy" => Some("  ".to_owned()),
        _ => None,
    });
    assert_eq!(e.process_variables, ["HTTPS_PROXY"]);
    assert!(!e.system_policy);
    assert_eq!(
        e.machine_environment, None,
        "read only under a system policy"
    );
}

#[test]
fn a_loopback_gateway_is_always_reached_directly() {
    let demo = url("http://127.0.0.1:41234/restcomm");
    let https = url("https://gateway.bank.example/restcomm");
    let via = ProxyRoute::Via {
        url: url("http://proxy.bank.example:3128/"),
        no_proxy: None,
    };
    for r in [ProxyRoute::Os, via.clone(), ProxyRoute::Direct] {
        assert_eq!(effective_route(&demo, &r), ProxyRoute::Direct, "{r:?}");
        assert_eq!(effective_route(&https, &r), r);
    }
}

#[test]
fn etc_environment_lines_parse_like_pam_env() {
    assert_eq!(
        parse_environment_file("# c\n\nA=1\nexport B = \"two words\"\nC='3'\nnot a line\n"),
        [
            ("A".to_owned(), "1".to_owned()),
            ("B".to_owned(), "two words".to_owned()),
            ("C".to_owned(), "3".to_owned()),
        ]
    );
}
