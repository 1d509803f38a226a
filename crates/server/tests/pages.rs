//! The pages over real HTTP: security headers, the cross-site request check, language
//! negotiation, the operator sign-in cookie, the clinic and agent desks' sign-in, the booking
//! pages behind the waiting room, the embedded assets, the dashboard's time series and charts,
//! and places left as the booking page and the agent desk show them.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{OPERATOR_TOKEN, TestServer, booking_body, rrn_1967, small_world};
use reqwest::header::HeaderMap;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use std::time::Duration;

/// A browser-like client: keeps cookies, does not follow redirects (so tests see them).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn origin_of(server: &TestServer) -> String {
    format!("http://{}", server.addr)
}

/// Walks a browser through `/wait` until it holds a pass (the small world lets people in).
async fn admitted_browser(server: &TestServer) -> reqwest::Client {
    let client = browser();
    for _ in 0..100 {
        let page = client.get(server.url("/wait")).send().await.unwrap();
        let html = page.text().await.unwrap();
        if html.contains("/identity") && html.contains("button primary") {
            return client;
        }
        server.clock.advance(jiff::SignedDuration::from_millis(500));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("never admitted");
}

/// An identity check from a browser: same-origin posts with the cookies it holds.
async fn signed_in_browser(server: &TestServer, rrn: &str) -> reqwest::Client {
    let client = admitted_browser(server).await;
    let phone = server.subscribe("홍길동", rrn);
    let started: Value = client
        .post(server.url("/api/v1/identity/start"))
        .header("origin", origin_of(server))
        .json(&json!({"name": "홍길동", "rrn": rrn, "phone": phone}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let verified = client
        .post(server.url("/api/v1/identity/verify"))
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"verification_id": started["verification_id"], "code": started["demo_code"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status().as_u16(), 200);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers() {
    let server = TestServer::start(small_world()).await;
    // Documents (pages, scripts, styles) carry the policy; every answer carries nosniff.
    for path in [
        "/",
        "/wait",
        "/operator/login",
        "/assets/common.js",
        "/clinic/login",
        "/agent/login",
        "/assets/agent.js",
    ] {
        let response = browser().get(server.url(path)).send().await.unwrap();
        let h = response.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
    }
    // JSON is never rendered: it is spared the policy (the status poll is the hottest path).
    for path in ["/api/v1/regions", "/nowhere", "/api/v1/queue/status"] {
        let response = browser().get(server.url(path)).send().await.unwrap();
        let h = response.headers();
        let kind = h["content-type"].to_str().unwrap();
        assert!(kind.starts_with("application/json"), "{path}: {kind}");
        assert!(!h.contains_key("content-security-policy"), "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
    }
    // No page carries an inline script or style: everything comes from /assets.
    for path in ["/", "/wait", "/operator/login"] {
        let html = browser()
            .get(server.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!html.contains("<style"), "{path}");
        assert!(!html.contains(" style="), "{path}");
        for script in html.match_indices("<script").map(|(i, _)| &html[i..]) {
            assert!(script.starts_with("<script src=\"/assets/"), "{path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn korean_by_default_english_when_asked_and_remembered() {
    let server = TestServer::start(small_world()).await;
    let lang_of = |html: &str| {
        html.split("<html lang=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_string()
    };
    let page = |accept: Option<&'static str>| {
        let mut request = browser().get(server.url("/"));
        if let Some(accept) = accept {
            request = request.header("accept-language", accept);
        }
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    assert_eq!(lang_of(&page(None).await), "ko");
    assert_eq!(lang_of(&page(Some("ko-KR,ko;q=0.9,en;q=0.8")).await), "ko");
    assert_eq!(lang_of(&page(Some("en-US,en;q=0.9")).await), "en");

    // ?lang=en switches and is remembered for the next pages, whatever the browser prefers.
    let client = browser();
    let switched = client
        .get(server.url("/?lang=en"))
        .header("accept-language", "ko-KR")
        .send()
        .await
        .unwrap();
    assert!(
        set_cookies(&switched)
            .iter()
            .any(|c| c.starts_with("yeyak_lang=en"))
    );
    let html = switched.text().await.unwrap();
    assert_eq!(lang_of(&html), "en");
    assert!(html.contains("Start booking"));
    assert!(html.contains("href=\"/?lang=ko\""), "a switch back");
    let later = client
        .get(server.url("/wait"))
        .header("accept-language", "ko-KR")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(lang_of(&later), "en");
    let back = client
        .get(server.url("/operator/login?lang=ko"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(lang_of(&back), "ko");
    assert!(back.contains("운영자 로그인"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_state_changes_are_refused_and_header_credentials_still_work() {
    let server = TestServer::start(small_world()).await;
    let client = signed_in_browser(&server, &rrn_1967(11)).await;
    let book = booking_body(0, "2021-08-16", 10, "moderna");
    // Another site's form or fetch, with the victim's cookies attached by the browser.
    let attempts: [(&str, &str); 4] = [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "http://evil.example"),
        ("x-nothing", "1"),
    ];
    for (name, value) in attempts {
        let response = client
            .post(server.url("/api/v1/bookings"))
            .header(name, value)
            .json(&book)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 403, "{name}: {value}");
        let error: Value = response.json().await.unwrap();
        assert!(
            ["cross_site_request", "foreign_origin", "origin_required"]
                .contains(&error["error"].as_str().unwrap()),
            "{error}"
        );
    }
    // Nothing was booked by any of them.
    let list: Value = client
        .get(server.url("/api/v1/bookings"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["bookings"].as_array().unwrap().len(), 0, "{list}");
    // Our own page's request goes through.
    let response = client
        .post(server.url("/api/v1/bookings"))
        .header("sec-fetch-site", "same-origin")
        .header("origin", origin_of(&server))
        .json(&book)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);

    // An app with header credentials and no cookies is not a browser: no origin needed.
    let app = server.login("이앱", &rrn_1967(12)).await;
    let (status, body) = server
        .post("/api/v1/bookings", Some(&app), book.clone(), None)
        .await;
    assert_eq!(status, 201, "{body}");

    // A page form posted from elsewhere is refused even without cookies.
    let response = browser()
        .post(server.url("/operator/login"))
        .header("origin", "http://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", OPERATOR_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert!(set_cookies(&response).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_signs_in_with_the_token_and_gets_an_httponly_cookie() {
    let server = TestServer::start(small_world()).await;
    let client = browser();
    let page = client.get(server.url("/operator")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 303);
    assert_eq!(page.headers()["location"], "/operator/login");
    let (status, _) = (
        client
            .get(server.url("/api/v1/admin/queue"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        (),
    );
    assert_eq!(status, 401);

    let wrong = client
        .post(server.url("/operator/login"))
        .header("origin", origin_of(&server))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", "not-the-token-at-all"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(set_cookies(&wrong).is_empty());

    let right = client
        .post(server.url("/operator/login"))
        .header("origin", origin_of(&server))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", OPERATOR_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status().as_u16(), 303);
    let cookie = set_cookies(&right)
        .into_iter()
        .find(|c| c.starts_with("yeyak_operator="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(OPERATOR_TOKEN),
        "the token itself never goes in a cookie"
    );

    // The cookie opens the operator pages and the admin API.
    let page = client.get(server.url("/operator")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let queue = client
        .get(server.url("/api/v1/admin/queue"))
        .send()
        .await
        .unwrap();
    assert_eq!(queue.status().as_u16(), 200);
    let queue: Value = queue.json().await.unwrap();
    assert!(queue["opens_at"].is_null(), "no opening yet: {queue}");
    // What the pages do with it is audited like the token's actions.
    let opened = client
        .post(server.url("/api/v1/admin/openings"))
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"prequeue_starts_at": "2021-07-19T12:00:00Z", "opens_at": "2021-07-19T12:30:00Z", "max_active": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status().as_u16(), 201);
    let audit: Value = client
        .get(server.url("/api/v1/admin/audit"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let line = &audit["audit"][0];
    assert_eq!(
        (
            line["actor"].as_str(),
            line["action"].as_str(),
            line["outcome"].as_str()
        ),
        (
            Some("operator"),
            Some("POST /api/v1/admin/openings"),
            Some("201")
        ),
        "{audit}"
    );
    // A forged cookie opens nothing.
    let forged = reqwest::Client::new()
        .get(server.url("/api/v1/admin/queue"))
        .header(
            "cookie",
            "yeyak_operator=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 401);
    // It expires with the shift.
    server.clock.advance(jiff::SignedDuration::from_hours(9));
    let page = client.get(server.url("/operator")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_secure_behind_an_https_proxy() {
    let server = TestServer::start(small_world()).await;
    let plain = browser().get(server.url("/wait")).send().await.unwrap();
    let cookies = set_cookies(&plain);
    assert!(!cookies.is_empty());
    assert!(cookies.iter().all(|c| !c.contains("Secure")), "{cookies:?}");
    let proxied = browser()
        .get(server.url("/wait?lang=en"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let cookies = set_cookies(&proxied);
    assert!(cookies.len() >= 3, "{cookies:?}");
    assert!(
        cookies.iter().all(|c| c.ends_with("; Secure")),
        "{cookies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booking_pages_need_the_waiting_room_then_an_identity_check() {
    let server = TestServer::start(small_world()).await;
    // 2021: a direct link to the booking page worked before the opening.
    for path in [
        "/identity",
        "/eligibility",
        "/search",
        "/book?clinic=0",
        "/bookings",
    ] {
        let response = browser().get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 303, "{path}");
        assert_eq!(response.headers()["location"], "/wait", "{path}");
    }
    let client = admitted_browser(&server).await;
    let identity = client.get(server.url("/identity")).send().await.unwrap();
    assert_eq!(identity.status().as_u16(), 200);
    assert_eq!(identity.headers()["cache-control"], "no-store");
    let html = identity.text().await.unwrap();
    for label in [
        "for=\"name\"",
        "for=\"rrn\"",
        "for=\"phone\"",
        "for=\"code\"",
    ] {
        assert!(html.contains(label), "{label}");
    }
    let eligibility = client.get(server.url("/eligibility")).send().await.unwrap();
    assert_eq!(eligibility.status().as_u16(), 303);
    assert_eq!(eligibility.headers()["location"], "/identity");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eligibility_search_booking_and_my_bookings_render_from_the_api() {
    let server = TestServer::start(small_world()).await;
    // Born 1970: not in the open cohort; the page says why and when their window opens.
    let later = signed_in_browser(&server, "700505-2000001").await;
    let html = later
        .get(server.url("/eligibility"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("아직 예약 기간이 아닙니다"), "{html}");
    assert!(html.contains("id=\"opens\""), "{html}");
    assert!(html.contains("(한국시간)"), "{html}");

    let client = signed_in_browser(&server, &rrn_1967(21)).await;
    let html = client
        .get(server.url("/eligibility?lang=en"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("You can book now"), "{html}");
    let html = client
        .get(server.url("/search?province=11&municipality=11010&product=&lat=&lon="))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("2 clinics found"), "{html}");
    assert!(html.contains("href=\"/book?clinic=0\""), "{html}");
    let html = client
        .get(server.url("/book?clinic=0&product=moderna&date=2021-07-22"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("name=\"hour\" value=\"9\""), "{html}");
    assert!(html.contains("data-date=\"2021-07-22\""), "{html}");
    // The page's script books through the API; here the same request, from the same origin.
    let booked: Value = client
        .post(server.url("/api/v1/bookings"))
        .header("sec-fetch-site", "same-origin")
        .header("idempotency-key", "page-test-1")
        .json(&booking_body(0, "2021-07-22", 10, "moderna"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = booked["id"].as_u64().unwrap();
    let html = client
        .get(server.url(&format!("/bookings?booked={id}&lang=en")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Your booking is confirmed"), "{html}");
    assert!(html.contains("Dose 1") && html.contains("Dose 2"), "{html}");
    assert!(html.contains("Thu 22 Jul 2021 10:00–11:00"), "{html}");
    assert!(
        html.contains("Thu 19 Aug 2021"),
        "dose 2, 28 days on: {html}"
    );
    assert!(html.contains(&format!("data-cancel=\"{id}\"")), "{html}");
    // What the person typed never comes back in a page.
    assert!(!html.contains("670315"), "{html}");

    // Changing a Pfizer booking keeps Pfizer where the new clinic has it; another person's
    // booking cannot be opened for a change.
    let other = signed_in_browser(&server, &rrn_1967(22)).await;
    let pfizer: Value = other
        .post(server.url("/api/v1/bookings"))
        .header("sec-fetch-site", "same-origin")
        .json(&booking_body(0, "2021-07-23", 11, "pfizer"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pfizer_id = pfizer["id"].as_u64().unwrap();
    let html = other
        .get(server.url(&format!("/book?clinic=0&change={pfizer_id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-product=\"pfizer\""), "{html}");
    assert!(
        html.contains(&format!("data-change=\"{pfizer_id}\"")),
        "{html}"
    );
    let foreign = client
        .get(server.url(&format!("/book?clinic=0&change={pfizer_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status().as_u16(), 404);
    let html = foreign.text().await.unwrap();
    // This browser chose English earlier on: the refusal is a page, in English.
    assert!(
        html.contains("role=\"alert\"") && html.contains("This cannot be done"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_are_embedded_and_cached_by_version() {
    let server = TestServer::start(small_world()).await;
    let html = browser()
        .get(server.url("/operator/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let css = html
        .split("href=\"")
        .find(|s| s.starts_with("/assets/app.css?v="))
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let response = browser().get(server.url(&css)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/css; charset=utf-8"
    );
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let etag = response.headers()["etag"].clone();
    let mut headers = HeaderMap::new();
    headers.insert("if-none-match", etag);
    let again = browser()
        .get(server.url(&css))
        .headers(headers)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 304);
    let js = browser()
        .get(server.url("/assets/dashboard.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        js.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(js.headers()["cache-control"], "public, max-age=300");
    let missing = browser()
        .get(server.url("/assets/evil.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_series_follow_the_server_clock() {
    let server = TestServer::start(small_world()).await;
    let get = || async {
        server
            .http
            .get(server.url("/api/v1/admin/dashboard"))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let unauthenticated = server
        .http
        .get(server.url("/api/v1/admin/dashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    for _ in 0..5 {
        server
            .post("/api/v1/queue/arrive", None, json!({}), None)
            .await;
    }
    // Two ticks on a clock that moved on by two seconds.
    server.clock.advance(jiff::SignedDuration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let view = get().await;
    let fine = view["fine"].as_array().unwrap();
    assert!(fine.len() >= 2, "{view}");
    let last = fine.last().unwrap();
    assert!(last["arrivals_per_s"].as_f64().unwrap() > 0.0, "{view}");
    // Sample times are the server clock's (2021), not the machine's.
    let at = jiff::Timestamp::from_millisecond(last["at_ms"].as_i64().unwrap()).unwrap();
    assert!(at.to_string().starts_with("2021-07-19"), "{at}");
    let provinces = view["provinces"].as_array().unwrap();
    assert_eq!(provinces.len(), 17, "{view}");
    let seoul = provinces.iter().find(|p| p["code"] == 11).unwrap();
    assert!(seoul["remaining"].as_u64().unwrap() > 0, "{seoul}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clinic_desk_signs_in_with_a_staff_token_until_it_is_revoked() {
    let server = TestServer::start(small_world()).await;
    let issue = |body: Value| issue_staff(&server, body);
    let nurse = issue(json!({"role": "clinic", "clinic": 0, "name": "간호사 김"})).await;
    let agent = issue(json!({"role": "agent", "name": "상담원 이"})).await;
    let sign_in = |client: &reqwest::Client, token: &str| {
        client
            .post(server.url("/clinic/login"))
            .header("origin", origin_of(&server))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    let client = browser();
    let page = client.get(server.url("/clinic")).send().await.unwrap();
    assert_eq!(page.headers()["location"], "/clinic/login");
    // An agent's token is not a clinic's.
    let refused = sign_in(&client, agent["token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    assert!(set_cookies(&refused).is_empty());
    let signed_in = sign_in(&client, nurse["token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(signed_in.status().as_u16(), 303);
    let cookie = set_cookies(&signed_in).join(";");
    assert!(
        cookie.contains("yeyak_staff=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    let html = client
        .get(server.url("/clinic"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("오늘의 접종 명단") && html.contains("테스트의원 0"),
        "{html}"
    );
    assert!(html.contains("id=\"leftover\""), "{html}");
    // Revoking the token closes the desk at once.
    let revoked = server
        .http
        .post(server.url(&format!(
            "/api/v1/admin/staff/{}/revoke",
            nurse["id"].as_u64().unwrap()
        )))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    let page = client.get(server.url("/clinic")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_desk_signs_in_with_an_agent_token_only() {
    let server = TestServer::start(small_world()).await;
    let issue = |body: Value| issue_staff(&server, body);
    let nurse = issue(json!({"role": "clinic", "clinic": 0, "name": "간호사 김"})).await;
    let agent = issue(json!({"role": "agent", "name": "상담원 이"})).await;
    let sign_in = |client: &reqwest::Client, path: &str, token: &str| {
        client
            .post(server.url(path))
            .header("origin", origin_of(&server))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    let client = browser();
    let page = client.get(server.url("/agent")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 303);
    assert_eq!(page.headers()["location"], "/agent/login");
    let form = client
        .get(server.url("/agent/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("상담원 로그인") && form.contains("action=\"/agent/login\""),
        "{form}"
    );
    // A sign-in posted from another site is refused before the token is looked at.
    let foreign = client
        .post(server.url("/agent/login"))
        .header("origin", "https://elsewhere.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", agent["token"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status().as_u16(), 403);
    assert!(set_cookies(&foreign).is_empty());
    // A clinic's token is not an agent's: refused at the sign-in, no cookie.
    let refused = sign_in(&client, "/agent/login", nurse["token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    assert!(set_cookies(&refused).is_empty());
    // A clinic desk's cookie does not open the agent desk either.
    let nurse_desk = browser();
    let at_clinic = sign_in(
        &nurse_desk,
        "/clinic/login",
        nurse["token"].as_str().unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(at_clinic.status().as_u16(), 303);
    let page = nurse_desk.get(server.url("/agent")).send().await.unwrap();
    assert_eq!(page.headers()["location"], "/agent/login");
    // The agent signs in; the cookie is the staff cookie, HttpOnly and same-site only.
    let signed_in = sign_in(&client, "/agent/login", agent["token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(signed_in.status().as_u16(), 303);
    assert_eq!(signed_in.headers()["location"], "/agent");
    let cookie = set_cookies(&signed_in).join(";");
    assert!(
        cookie.contains("yeyak_staff=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    let html = client
        .get(server.url("/agent?province=11&municipality=11010&product=moderna"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("예약 대행") && html.contains("id=\"identify\""),
        "{html}"
    );
    assert!(html.contains("신분증을 확인했습니다"), "{html}");
    assert!(html.contains("/assets/agent.js?v="), "{html}");
    // The clinics near the district that give the vaccine are listed to choose from.
    assert!(
        html.contains("테스트의원 0") && html.contains("테스트의원 1"),
        "{html}"
    );
    // And the agent's token does not open the clinic desk.
    let page = client.get(server.url("/clinic")).send().await.unwrap();
    assert_eq!(page.headers()["location"], "/clinic/login");
    // Signing out forgets the cookie; the desk detours to the sign-in again.
    let out = client
        .post(server.url("/agent/logout"))
        .header("origin", origin_of(&server))
        .send()
        .await
        .unwrap();
    assert_eq!(out.headers()["location"], "/agent/login");
    let page = client.get(server.url("/agent")).send().await.unwrap();
    assert_eq!(page.headers()["location"], "/agent/login");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_from_the_data_is_escaped_in_pages() {
    let mut world = small_world();
    world[0].clinic.name = "<script>alert(1)</script>\"의원'".into();
    let server = TestServer::start(world).await;
    let client = signed_in_browser(&server, &rrn_1967(31)).await;
    for path in ["/search?municipality=11010&province=11", "/book?clinic=0"] {
        let html = client
            .get(server.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!html.contains("<script>alert"), "{path}: {html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;의원&#39;"),
            "{path}: {html}"
        );
    }
}

/// One clinic card of the agent desk's list: from `start` to the end of its "choose" link.
fn card<'a>(html: &'a str, start: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {html}"));
    let rest = &html[from..];
    &rest[..rest.find("</a></li>").unwrap_or(rest.len())]
}

/// A band that filled is shown full, and cannot be chosen, on the citizen's booking page and on
/// the agent desk, which also lists the clinics near a district with the places left each day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_bands_and_places_per_day_on_the_booking_page_and_the_agent_desk() {
    let server = TestServer::start(small_world()).await;
    // Clinic 1 sees two people per band: two bookings fill Thursday 22 July, 10:00.
    for n in [60, 61] {
        let token = server.login("선착순", &rrn_1967(n)).await;
        let (status, _) = server
            .post(
                "/api/v1/bookings",
                Some(&token),
                booking_body(1, "2021-07-22", 10, "moderna"),
                None,
            )
            .await;
        assert_eq!(status, 201);
    }
    let citizen = signed_in_browser(&server, &rrn_1967(62)).await;
    let html = citizen
        .get(server.url("/book?clinic=1&product=moderna&date=2021-07-22"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("value=\"10\" required disabled> 10:00–11:00 <small>마감</small>"),
        "{html}"
    );
    assert!(
        html.contains("value=\"9\" required> 09:00–10:00 <small>남은 자리 2</small>"),
        "{html}"
    );
    // What the script needs when a band fills under the person: texts and the offers' place.
    assert!(html.contains("data-left-text=\"남은 자리 {n}\""), "{html}");
    assert!(
        html.contains(
            "<section id=\"filled\" class=\"notice\" aria-labelledby=\"filled-h\" hidden>"
        ),
        "{html}"
    );
    assert!(html.contains("id=\"bands-status\" class=\"note\" role=\"status\""));

    let agent = issue_staff(&server, json!({"role": "agent", "name": "상담원 최"})).await;
    let desk = desk_browser(&server, "/agent/login", &agent).await;
    let get = |path: &str| {
        let request = desk.get(server.url(path));
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let html = get("/agent?province=11&municipality=11010&product=moderna").await;
    // Near Jongno-gu: both Moderna clinics with a distance, Busan's is not near.
    assert!(html.contains("km</p>"), "{html}");
    assert!(!html.contains("테스트의원 2"), "{html}");
    // Clinic 1, seven days from tomorrow (Tuesday 20 July): 9 bands × 2 = 18 a day; on Thursday
    // two are taken. Clinic 0: 9 bands × 10 = 90 a day.
    let one = card(&html, "data-clinic=\"1\"");
    assert!(
        one.contains("7월 20일 (화)</span> <strong>18</strong>"),
        "{one}"
    );
    assert!(
        one.contains("7월 22일 (목)</span> <strong>16</strong>"),
        "{one}"
    );
    assert_eq!(one.matches("<li").count(), 7, "seven days: {one}");
    assert!(
        one.contains(
            "href=\"/agent?province=11&amp;municipality=11010&amp;product=moderna&amp;clinic=1#slot-h\""
        ),
        "{one}"
    );
    assert!(card(&html, "data-clinic=\"0\"").contains("<strong>90</strong>"));
    // Choosing clinic 1 and Thursday: the full band cannot be chosen.
    let html =
        get("/agent?province=11&municipality=11010&product=moderna&clinic=1&date=2021-07-22").await;
    assert!(
        html.contains("data-clinic=\"1\" data-date=\"2021-07-22\""),
        "{html}"
    );
    assert!(
        html.contains("value=\"10\" required disabled> 10:00–11:00 <small>마감</small>"),
        "{html}"
    );
    assert!(
        html.contains("date=2021-07-22\" aria-current=\"date\">"),
        "{html}"
    );
    // A clinic that does not give the vaccine is not chosen, whatever the query says.
    let html = get("/agent?province=11&municipality=11010&product=pfizer&clinic=1").await;
    assert!(html.contains("id=\"no-clinic\""), "{html}");
}

/// A staff member issued by the operator: `{"id", "token", …}`.
async fn issue_staff(server: &TestServer, body: Value) -> Value {
    let request = server
        .http
        .post(server.url("/api/v1/admin/staff"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&body);
    request.send().await.unwrap().json::<Value>().await.unwrap()
}

/// A browser signed in at a desk (`/clinic/login` or `/agent/login`) with the staff's token.
async fn desk_browser(server: &TestServer, login: &str, staff: &Value) -> reqwest::Client {
    let client = browser();
    let signed_in = client
        .post(server.url(login))
        .header("origin", origin_of(server))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", staff["token"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status().as_u16(), 303);
    client
}

/// The desks show clinic and staff-entered names as text, never as markup: the clinic desk's
/// header and the agent desk's list and chosen clinic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_from_the_data_is_escaped_on_the_desks() {
    let mut world = small_world();
    world[0].clinic.name = "<script>alert(1)</script>\"의원".into();
    let server = TestServer::start(world).await;
    let issue = |body: Value| issue_staff(&server, body);
    let nurse = issue(json!({"role": "clinic", "clinic": 0, "name": "간호사"})).await;
    let agent = issue(json!({"role": "agent", "name": "상담원"})).await;
    let clinic = desk_browser(&server, "/clinic/login", &nurse).await;
    let agent = desk_browser(&server, "/agent/login", &agent).await;
    let pages = [
        (&clinic, "/clinic"),
        (
            &agent,
            "/agent?province=11&municipality=11010&product=moderna&clinic=0",
        ),
    ];
    for (client, path) in pages {
        let html = client
            .get(server.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!html.contains("<script>alert"), "{path}: {html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;의원"),
            "{path}: {html}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_page_has_a_table_for_its_charts() {
    let server = TestServer::start(small_world()).await;
    let client = browser();
    let signed_in = client
        .post(server.url("/operator/login"))
        .header("origin", origin_of(&server))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={OPERATOR_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status().as_u16(), 303);
    let html = client
        .get(server.url("/operator/dashboard?lang=en"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Five charts, each a column of the table that is their text alternative.
    assert_eq!(
        html.matches("<figure class=\"chart\" id=\"chart-").count(),
        5
    );
    assert!(
        html.contains("<th scope=\"col\">Time</th><th scope=\"col\">Arrivals per second</th>"),
        "{html}"
    );
    // The script's texts come with the page, in its language.
    assert!(
        html.contains("<script type=\"application/json\" id=\"yeyak-texts\">")
            && html.contains("\"dashboard.no_data\":\"No data yet\""),
        "{html}"
    );
    assert!(html.contains("id=\"provinces-table\""), "{html}");
}

/// A form as a browser posts it (`application/x-www-form-urlencoded`).
fn form_body(fields: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The waiting page offers the identity check while waiting, without scripts: plain POST forms
/// on a page of their own (the waiting page refreshes itself), then back to `/wait`, which now
/// says the place is the person's one place. In Korean first, and in English.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_while_waiting_works_without_scripts() {
    let server = TestServer::start(small_world()).await;
    let now = server::clock::Clock::now(server.clock.as_ref());
    let opens = now
        .checked_add(jiff::SignedDuration::from_mins(10))
        .unwrap();
    let response = server
        .http
        .post(server.url("/api/v1/admin/openings"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"prequeue_starts_at": now.to_string(), "opens_at": opens.to_string(), "max_active": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    for (lang, offer, done) in [
        ("ko", "본인인증 하기", "본인인증을 마쳤습니다"),
        ("en", "Verify now", "You are verified"),
    ] {
        let client = browser();
        let html = client
            .get(server.url(&format!("/wait?lang={lang}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains(offer) && html.contains("href=\"/wait/verify\""),
            "{html}"
        );
        assert!(!html.contains("<script"));
        let form = client.get(server.url("/wait/verify")).send().await.unwrap();
        assert_eq!(form.status().as_u16(), 200);
        let form = form.text().await.unwrap();
        assert!(
            form.contains("action=\"/wait/verify\"") && !form.contains("<script"),
            "{form}"
        );
        let rrn = rrn_1967(if lang == "ko" { 41 } else { 42 });
        let phone = server.subscribe("홍길동", &rrn);
        let code_page = client
            .post(server.url("/wait/verify"))
            .header("origin", origin_of(&server))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[
                ("name", "홍길동"),
                ("rrn", &rrn),
                ("phone", &phone),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(code_page.status().as_u16(), 200);
        let code_page = code_page.text().await.unwrap();
        let grab = |html: &str, before: &str, until: char| {
            let at = html
                .find(before)
                .unwrap_or_else(|| panic!("{before} in {html}"))
                + before.len();
            html[at..].split(until).next().unwrap().trim().to_string()
        };
        let verification_id = grab(&code_page, "name=\"verification_id\" value=\"", '"');
        let demo = grab(&code_page, "class=\"demo\">", '<');
        let code = demo.rsplit(' ').next().unwrap().to_string();
        let back = client
            .post(server.url("/wait/verify"))
            .header("origin", origin_of(&server))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[
                ("verification_id", &verification_id),
                ("code", &code),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(
            back.status().as_u16(),
            303,
            "{}",
            back.text().await.unwrap()
        );
        assert_eq!(back.headers()["location"], "/wait");
        let html = client
            .get(server.url("/wait"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains(done), "{html}");
        assert!(
            !html.contains("href=\"/wait/verify\""),
            "no second offer: {html}"
        );
    }
}
