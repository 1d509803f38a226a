//! Credentials over real HTTP: no token of one kind is accepted as another (ticket, pass, identity
//! session, consent, operator and staff sign-in cookies), the new cookie and header names are the
//! ones set, and the names of the earlier release are still read.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::*;
use serde_json::{Value, json};

fn set_cookie_names(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split_once('=').map(|(n, _)| n.to_string()))
        .collect()
}

fn set_cookie_value(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .to_string()
}

/// Sends a GET with exactly these headers (no cookie jar) and returns status and error code.
async fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = server.http.get(server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["error"].as_str().unwrap_or("").to_string())
}

/// Signs in on a sign-in form (`/operator/login`, `/clinic/login`) and returns the cookie set.
async fn sign_in(server: &TestServer, path: &str, token: &str, cookie: &str) -> String {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects
        .post(server.url(path))
        .header("origin", format!("http://{}", server.addr))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303, "{path}");
    set_cookie_value(&response, cookie)
}

async fn new_clinic_staff(server: &TestServer) -> String {
    let (status, staff) = server
        .post(
            "/api/v1/admin/staff",
            Some(&operator()),
            json!({"role": "clinic", "clinic": 0, "name": "간호사 김"}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{staff}");
    staff["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_token_of_one_kind_is_never_accepted_as_another() {
    let server = TestServer::start(small_world()).await;
    let person = server.login("홍길동", &rrn_1967(1)).await;
    let consent = family_consent(&server, &person, "김가족", &rrn_1967(2)).await;
    let operator_cookie =
        sign_in(&server, "/operator/login", OPERATOR_TOKEN, "yeyak_operator").await;
    let staff_token = new_clinic_staff(&server).await;
    let staff_cookie = sign_in(&server, "/clinic/login", &staff_token, "yeyak_staff").await;

    // Each genuine credential works where it belongs.
    let waiting = [
        ("x-yeyak-waiting-session", person.session.as_str()),
        ("x-yeyak-pass", person.pass.as_str()),
    ];
    let bearer = format!("Bearer {}", person.token);
    fn as_person<'a>(waiting: &[(&'a str, &'a str)], auth: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut headers = waiting.to_vec();
        headers.push(("authorization", auth));
        headers
    }
    assert_eq!(
        get(&server, "/api/v1/contact", &as_person(&waiting, &bearer))
            .await
            .0,
        200
    );
    let op = format!("yeyak_operator={operator_cookie}");
    assert_eq!(
        get(&server, "/api/v1/admin/queue", &[("cookie", &op)])
            .await
            .0,
        200
    );
    let staff = format!("yeyak_staff={staff_cookie}");
    assert_eq!(
        get(&server, "/api/v1/clinic/day", &[("cookie", &staff)])
            .await
            .0,
        200
    );

    // As the identity session: a ticket, a pass, a consent, either sign-in cookie.
    for (what, token) in [
        ("ticket", person.ticket.as_str()),
        ("pass", person.pass.as_str()),
        ("consent", consent.as_str()),
        ("operator cookie", operator_cookie.as_str()),
        ("staff cookie", staff_cookie.as_str()),
    ] {
        let auth = format!("Bearer {token}");
        assert_eq!(
            get(&server, "/api/v1/contact", &as_person(&waiting, &auth)).await,
            (401, "unauthenticated".to_string()),
            "{what} as an identity session"
        );
        let cookie = format!("yeyak_identity={token}");
        let mut headers = waiting.to_vec();
        headers.push(("cookie", &cookie));
        assert_eq!(
            get(&server, "/api/v1/contact", &headers).await.0,
            401,
            "{what} as the identity cookie"
        );
    }

    // As the operator cookie: an identity session, a consent, a staff cookie, a ticket, a pass.
    for (what, token) in [
        ("identity session", person.token.as_str()),
        ("consent", consent.as_str()),
        ("staff cookie", staff_cookie.as_str()),
        ("ticket", person.ticket.as_str()),
        ("pass", person.pass.as_str()),
    ] {
        let cookie = format!("yeyak_operator={token}");
        assert_eq!(
            get(&server, "/api/v1/admin/queue", &[("cookie", &cookie)]).await,
            (401, "operator_signed_out".to_string()),
            "{what} as the operator cookie"
        );
    }

    // As the staff cookie: the operator cookie, an identity session, a pass.
    for (what, token) in [
        ("operator cookie", operator_cookie.as_str()),
        ("identity session", person.token.as_str()),
        ("pass", person.pass.as_str()),
    ] {
        let cookie = format!("yeyak_staff={token}");
        assert_eq!(
            get(&server, "/api/v1/clinic/day", &[("cookie", &cookie)]).await,
            (401, "staff_token_invalid".to_string()),
            "{what} as the staff cookie"
        );
    }

    // As the pass: an identity session, a ticket, the operator cookie (the waiting room's own
    // codes: another key, or the wrong kind under the same key).
    for (what, token, code) in [
        (
            "identity session",
            person.token.as_str(),
            "token_unknown_key",
        ),
        ("ticket", person.ticket.as_str(), "token_wrong_kind"),
        (
            "operator cookie",
            operator_cookie.as_str(),
            "token_unknown_key",
        ),
    ] {
        let headers = [
            ("x-yeyak-waiting-session", person.session.as_str()),
            ("x-yeyak-pass", token),
            ("authorization", bearer.as_str()),
        ];
        assert_eq!(
            get(&server, "/api/v1/contact", &headers).await,
            (403, code.to_string()),
            "{what} as a pass"
        );
    }
}

#[tokio::test]
async fn the_new_names_are_set_and_the_earlier_ones_still_read() {
    let server = TestServer::start(small_world()).await;

    // Arriving sets the waiting-room session under its new name only.
    let arrived = server
        .http
        .post(server.url("/api/v1/queue/arrive"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(arrived.status().as_u16(), 201);
    let names = set_cookie_names(&arrived);
    assert!(names.contains(&"yeyak_waiting".to_string()), "{names:?}");
    assert!(!names.contains(&"yeyak_sid".to_string()), "{names:?}");
    let session = set_cookie_value(&arrived, "yeyak_waiting");
    let body: Value = arrived.json().await.unwrap();
    assert_eq!(body["session"], session.as_str());
    let ticket = body["ticket"].as_str().unwrap().to_string();

    // The exchange with the earlier header name gives a pass.
    let mut pass = String::new();
    for _ in 0..200 {
        let response = server
            .http
            .post(server.url("/api/v1/queue/exchange"))
            .header("x-yeyak-session", &session)
            .header("x-yeyak-ticket", &ticket)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        if response.status().as_u16() == 200 {
            let answer: Value = response.json().await.unwrap();
            pass = answer["pass"].as_str().unwrap().to_string();
            break;
        }
        assert_eq!(response.status().as_u16(), 202);
        server.clock.advance(jiff::SignedDuration::from_millis(50));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!pass.is_empty(), "not admitted");

    // An identity check through the earlier header name; it sets the new identity cookie.
    let person = Visitor {
        session: session.clone(),
        ticket,
        pass,
        token: String::new(),
    };
    let person = server.verify(person, "홍길동", &rrn_1967(1)).await;

    // The booking side, by every spelling: new and earlier header, new and earlier cookies.
    let new_cookies = format!(
        "yeyak_waiting={session}; yeyak_pass={}; yeyak_identity={}",
        person.pass, person.token
    );
    let old_cookies = format!(
        "yeyak_sid={session}; yeyak_pass={}; yeyak_session={}",
        person.pass, person.token
    );
    let bearer = format!("Bearer {}", person.token);
    for (how, headers) in [
        (
            "new header",
            vec![
                ("x-yeyak-waiting-session", session.as_str()),
                ("x-yeyak-pass", person.pass.as_str()),
                ("authorization", bearer.as_str()),
            ],
        ),
        (
            "earlier header",
            vec![
                ("x-yeyak-session", session.as_str()),
                ("x-yeyak-pass", person.pass.as_str()),
                ("authorization", bearer.as_str()),
            ],
        ),
        ("new cookies", vec![("cookie", new_cookies.as_str())]),
        ("earlier cookies", vec![("cookie", old_cookies.as_str())]),
    ] {
        assert_eq!(
            get(&server, "/api/v1/contact", &headers).await.0,
            200,
            "{how}"
        );
    }
    // Without the identity session, by any name: signed out.
    let no_identity = format!("yeyak_waiting={session}; yeyak_pass={}", person.pass);
    assert_eq!(
        get(&server, "/api/v1/contact", &[("cookie", &no_identity)]).await,
        (401, "unauthenticated".to_string())
    );
    // The new name wins over the earlier one.
    let both = format!(
        "{no_identity}; yeyak_session=stale; yeyak_identity={}",
        person.token
    );
    assert_eq!(
        get(&server, "/api/v1/contact", &[("cookie", &both)])
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn identity_checks_set_the_identity_cookie_under_its_new_name() {
    let server = TestServer::start(small_world()).await;
    let visitor = server.enter().await;
    let phone = server.subscribe("홍길동", &rrn_1967(1));
    let (status, started) = server
        .post(
            "/api/v1/identity/start",
            Some(&visitor),
            json!({"name": "홍길동", "rrn": rrn_1967(1), "phone": phone}),
            None,
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let response = visitor
        .apply(server.http.post(server.url("/api/v1/identity/verify")))
        .json(&json!({"verification_id": started["verification_id"], "code": started["demo_code"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let names = set_cookie_names(&response);
    assert!(names.contains(&"yeyak_identity".to_string()), "{names:?}");
    assert!(!names.contains(&"yeyak_session".to_string()), "{names:?}");
    let cookie = set_cookie_value(&response, "yeyak_identity");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["session_token"], cookie.as_str());
}

async fn clinic_day(server: &TestServer, cookie: String) -> (u16, String) {
    get(server, "/api/v1/clinic/day", &[("cookie", &cookie)]).await
}

#[tokio::test]
async fn staff_cookies_are_signed_and_the_earlier_raw_token_cookie_still_works() {
    let server = TestServer::start(small_world()).await;
    let token = new_clinic_staff(&server).await;
    let signed = sign_in(&server, "/clinic/login", &token, "yeyak_staff").await;
    assert!(
        !signed.contains(&token),
        "the token never sits in the cookie"
    );
    assert_eq!(
        clinic_day(&server, format!("yeyak_staff={signed}")).await.0,
        200
    );
    assert_eq!(
        clinic_day(&server, format!("yeyak_staff={token}")).await.0,
        200,
        "the earlier cookie"
    );
    let mut tampered = signed.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        clinic_day(
            &server,
            format!("yeyak_staff={}", String::from_utf8(tampered).unwrap())
        )
        .await,
        (401, "staff_token_invalid".to_string())
    );
    // The sign-in cookie expires by itself, 12 hours on.
    server.clock.advance(jiff::SignedDuration::from_hours(12));
    assert_eq!(
        clinic_day(&server, format!("yeyak_staff={signed}")).await,
        (401, "staff_token_invalid".to_string())
    );
    // Signing in again gives a fresh one.
    let fresh = sign_in(&server, "/clinic/login", &token, "yeyak_staff").await;
    assert_eq!(
        clinic_day(&server, format!("yeyak_staff={fresh}")).await.0,
        200
    );
}
