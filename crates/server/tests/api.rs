//! The JSON API over real HTTP, against a real SQLite file.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{TestServer, booking_body, family_consent, operator, rrn_1967, small_world};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_books_reads_changes_and_cancels() {
    let server = TestServer::start(small_world()).await;
    let token = server.login("홍길동", &rrn_1967(1)).await;

    let (status, eligibility) = server.get("/api/v1/eligibility", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(eligibility["code"], "eligible", "{eligibility}");
    assert_eq!(eligibility["closes_at"], "2021-07-20T09:00:00Z");

    let (status, booked) = server
        .post(
            "/api/v1/bookings",
            Some(&token),
            booking_body(0, "2021-08-16", 10, "moderna"),
            Some("k1"),
        )
        .await;
    assert_eq!(status, 201, "{booked}");
    assert_eq!(
        booked["doses"][1]["date"], "2021-09-13",
        "Moderna dose 2 is 28 days later"
    );
    assert_eq!(booked["doses"][1]["clinic"]["id"], 0);
    let id = booked["id"].as_u64().unwrap();

    let (status, again) = server
        .post(
            "/api/v1/bookings",
            Some(&token),
            booking_body(0, "2021-08-16", 10, "moderna"),
            Some("k1"),
        )
        .await;
    assert_eq!(
        (status, &again),
        (201, &booked),
        "a retry with the same key gets the first answer"
    );

    let (status, list) = server.get("/api/v1/bookings", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(list["bookings"].as_array().unwrap().len(), 1);

    let (status, moved) = server
        .post(
            &format!("/api/v1/bookings/{id}/change"),
            Some(&token),
            json!({"clinic_id": 1, "date": "2021-08-17", "hour": 9}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["doses"][0]["clinic"]["id"], 1);
    assert_eq!(moved["doses"][1]["date"], "2021-09-14");

    let (status, cancelled) = server
        .post(
            &format!("/api/v1/bookings/{id}/cancel"),
            Some(&token),
            json!({}),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(cancelled["active"], false);
    assert_eq!(cancelled["doses"][0]["status"], "cancelled");
    let (status, _) = server
        .post(
            &format!("/api/v1/bookings/{id}/cancel"),
            Some(&token),
            json!({}),
            None,
        )
        .await;
    assert_eq!(status, 404, "a cancelled booking is no longer active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booking_for_a_parent_counts_against_the_parent() {
    let server = TestServer::start(small_world()).await;
    let child = server.login("김자녀", &rrn_1967(2)).await;
    let consent = family_consent(&server, &child, "김부모", "680101-2000001").await;
    let mut body = booking_body(0, "2021-08-16", 11, "pfizer");
    body["family"] = json!({ "consent": consent });
    let (status, booked) = server
        .post("/api/v1/bookings", Some(&child), body.clone(), None)
        .await;
    assert_eq!(status, 201, "{booked}");
    assert_eq!(booked["for_self"], false);
    assert_eq!(booked["booked_by_self"], true);
    // The parent cannot be booked twice, even by the same child, and the answer is the uniform
    // one about someone else: no booking id.
    let (status, again) = server
        .post("/api/v1/bookings", Some(&child), body, None)
        .await;
    assert_eq!(
        (status, again["error"].as_str()),
        (409, Some("family_not_bookable")),
        "{again}"
    );
    assert!(again.get("detail").is_none(), "{again}");
    // The child's own booking is still possible.
    let (status, _) = server
        .post(
            "/api/v1/bookings",
            Some(&child),
            booking_body(0, "2021-08-16", 11, "pfizer"),
            None,
        )
        .await;
    assert_eq!(status, 201);
    // A relative outside the open cohorts gets the same answer, without when their window opens.
    let consent = family_consent(&server, &child, "김동생", "900101-1000001").await;
    let mut young = booking_body(0, "2021-08-16", 12, "pfizer");
    young["family"] = json!({ "consent": consent });
    let (status, refused) = server
        .post("/api/v1/bookings", Some(&child), young, None)
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("family_not_bookable")),
        "{refused}"
    );
    assert!(refused.get("detail").is_none(), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_why_in_both_languages_and_change_nothing() {
    let server = TestServer::start(small_world()).await;
    let token = server.login("이순신", &rrn_1967(3)).await;
    let cases = [
        (
            booking_body(9, "2021-08-16", 10, "moderna"),
            404,
            "no_such_clinic",
        ),
        (
            booking_body(2, "2021-08-16", 10, "moderna"),
            422,
            "product_not_offered",
        ),
        (
            booking_body(0, "2021-07-19", 10, "moderna"),
            422,
            "day_not_bookable",
        ),
        (
            booking_body(0, "2021-08-15", 10, "moderna"),
            422,
            "hour_not_open",
        ),
        (
            booking_body(0, "2021-08-16", 18, "moderna"),
            422,
            "hour_not_open",
        ),
        (
            booking_body(0, "16/08/2021", 10, "moderna"),
            400,
            "invalid_date",
        ),
        (
            booking_body(0, "2021-08-16", 10, "sputnik"),
            400,
            "invalid_product",
        ),
        (json!({"clinic_id": "zero"}), 400, "invalid_body"),
    ];
    for (body, status, code) in cases {
        let (got, error) = server
            .post("/api/v1/bookings", Some(&token), body.clone(), None)
            .await;
        assert_eq!(
            (got, error["error"].as_str()),
            (status, Some(code)),
            "{body} → {error}"
        );
        assert!(!error["message_ko"].as_str().unwrap().is_empty());
        assert!(!error["message_en"].as_str().unwrap().is_empty());
    }
    let (_, list) = server.get("/api/v1/bookings", Some(&token)).await;
    assert_eq!(list["bookings"], json!([]));

    let mut no_session = token.clone();
    no_session.token.clear();
    let (status, error) = server
        .post(
            "/api/v1/bookings",
            Some(&no_session),
            booking_body(0, "2021-08-16", 10, "moderna"),
            None,
        )
        .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (401, Some("unauthenticated"))
    );
    let mut forged = token.clone();
    forged.token = "forged".into();
    let (status, _) = server
        .post(
            "/api/v1/bookings",
            Some(&forged),
            booking_body(0, "2021-08-16", 10, "moderna"),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, error) = server
        .post(
            "/api/v1/identity/start",
            Some(&token),
            json!({"name": "a", "rrn": "671332-1000000", "phone": "01012345678"}),
            None,
        )
        .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("rrn_birth_date"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eligibility_is_decided_on_the_server_clock_in_seoul() {
    let server = TestServer::start(small_world()).await;
    let born_1970 = server.login("박오십", "700505-2000001").await;
    let (_, decision) = server.get("/api/v1/eligibility", Some(&born_1970)).await;
    assert_eq!(decision["code"], "not_yet", "{decision}");
    assert_eq!(decision["opens_at"], "2021-07-20T11:00:00Z");
    let (status, refused) = server
        .post(
            "/api/v1/bookings",
            Some(&born_1970),
            booking_body(0, "2021-08-16", 10, "moderna"),
            None,
        )
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("not_eligible"))
    );
    // 2021-07-20 02:00–09:00 KST: the hours the 2021 site said "not eligible" by mistake.
    server.clock.set("2021-07-19T20:30:00Z".parse().unwrap());
    let born_1967 = server.login("최육칠", &rrn_1967(4)).await;
    let (_, decision) = server.get("/api/v1/eligibility", Some(&born_1967)).await;
    assert_eq!(decision["code"], "eligible", "{decision}");
    // Sessions last 30 minutes of server time: the morning-after token is a new one.
    let (status, _) = server.get("/api/v1/eligibility", Some(&born_1970)).await;
    assert_eq!(status, 401);
    let born_1970 = server.login("박오십", "700505-2000001").await;
    // A client's claim about time is ignored: only the server clock counts.
    let response = server
        .http
        .get(server.url("/api/v1/eligibility"))
        .header("x-yeyak-waiting-session", &born_1970.session)
        .header("x-yeyak-pass", &born_1970.pass)
        .bearer_auth(&born_1970.token)
        .header("Date", "Wed, 21 Jul 2021 12:00:00 GMT")
        .send()
        .await
        .unwrap();
    let decision: serde_json::Value = response.json().await.unwrap();
    assert_eq!(decision["code"], "not_yet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_by_region_and_distance_shows_what_is_left() {
    let server = TestServer::start(small_world()).await;
    let (status, found) = server
        .get(
            "/api/v1/clinics?municipality=11010&from=2021-08-16&days=1",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(found["total"], 2);
    assert_eq!(
        found["clinics"][0]["availability"][0]["remaining"]["moderna"], 90,
        "10 per band × 9 bands < 100 doses"
    );
    let (_, near) = server
        .get("/api/v1/clinics?lat=35.16&lon=129.16&radius_km=3", None)
        .await;
    assert_eq!(near["clinics"].as_array().unwrap().len(), 1);
    assert_eq!(near["clinics"][0]["id"], 2);
    // The shape the pages, the load generator and the OpenAPI document rely on.
    let clinic = &near["clinics"][0];
    for key in [
        "name",
        "kind",
        "municipality_name_ko",
        "municipality_name_en",
    ] {
        assert!(clinic[key].is_string(), "{key}: {clinic}");
    }
    for key in ["municipality", "province", "distance_km"] {
        assert!(clinic[key].is_number(), "{key}: {clinic}");
    }
    assert!(clinic["location"]["lat"].is_number() && clinic["location"]["lon"].is_number());
    assert!(clinic["products"].as_array().is_some_and(|p| !p.is_empty()));
    assert!(clinic["hours"]["open"].is_number() && clinic["hours"]["saturdays"].is_boolean());
    assert_eq!(
        clinic["availability"].as_array().unwrap().len(),
        7,
        "a week by default"
    );
    assert!(clinic["availability"][0]["date"].is_string());
    assert!(
        found["clinics"][0].get("distance_km").is_none(),
        "no distance without a point"
    );
    // Near clinic 1 (Moderna only), one Pfizer clinic: the nearest that gives it, not none.
    let (_, pfizer) = server
        .get(
            "/api/v1/clinics?lat=37.58&lon=126.985&radius_km=5&product=pfizer&limit=1",
            None,
        )
        .await;
    assert_eq!(pfizer["total"], 1, "{pfizer}");
    assert_eq!(pfizer["clinics"][0]["id"], 0);
    let (status, error) = server.get("/api/v1/clinics?lat=0&lon=0", None).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("outside_korea"))
    );
    let (status, error) = server.get("/api/v1/clinics", None).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("search_scope_required"))
    );

    let token = server.login("정약용", &rrn_1967(5)).await;
    server
        .post(
            "/api/v1/bookings",
            Some(&token),
            booking_body(1, "2021-08-16", 9, "moderna"),
            None,
        )
        .await;
    let (_, detail) = server.get("/api/v1/clinics/1?date=2021-08-16", None).await;
    assert_eq!(detail["date"], "2021-08-16");
    assert_eq!(detail["id"], 1);
    assert_eq!(detail["bands"][0]["label"], "09:00–10:00");
    assert_eq!(detail["bands"][0]["hour"], 9);
    assert_eq!(detail["bands"][0]["remaining"]["moderna"], 1, "{detail}");
}

/// `yeyak_queue_limit` and `yeyak_queue_in_flight` from `/metrics`.
async fn admission_gauges(server: &TestServer) -> (Option<u64>, Option<u64>) {
    let metrics = server.metrics().await;
    let value = |name: &str| -> Option<u64> {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    };
    (value("yeyak_queue_limit"), value("yeyak_queue_in_flight"))
}

/// Polls the admission gauges until `wanted(limit, in_flight)` holds; returns them.
async fn admission_gauges_until(
    server: &TestServer,
    wanted: impl Fn(u64, u64) -> bool,
) -> (u64, u64) {
    for _ in 0..50 {
        if let (Some(limit), Some(in_flight)) = admission_gauges(server).await
            && wanted(limit, in_flight)
        {
            return (limit, in_flight);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("not shown: {:?}", admission_gauges(server).await);
}

/// The controller's limit and the room it holds for people admitted but not yet shown up are in
/// `/metrics`, so an operator (and the load test's samples) can tell why admission slowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_admission_limit_and_the_room_held_for_people_not_yet_shown_up() {
    let server = TestServer::start(small_world()).await;
    // A free-flowing queue admits ahead of arrivals: those ranks hold room until someone shows.
    let (limit, held) =
        admission_gauges_until(&server, |limit, in_flight| limit > 0 && in_flight > 0).await;
    let (_, queue) = server.get("/api/v1/admin/queue", Some(&operator())).await;
    assert_eq!(
        queue["admission_limit"].as_u64(),
        Some(limit),
        "the limit in /metrics is the one the admin view shows"
    );
    // Someone takes one of those ranks and shows up (exchanges the ticket for a pass).
    server.enter().await;
    admission_gauges_until(&server, |_, in_flight| in_flight == held - 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_openapi_are_served() {
    let server = TestServer::start(small_world()).await;
    let (status, health) = server.get("/healthz", None).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let metrics = server.metrics().await;
    assert!(metrics.contains("yeyak_http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/healthz\""));
    assert!(metrics.contains("yeyak_queue_waiting"), "{metrics}");
    let (status, spec) = server.get("/api/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(spec["openapi"], "3.1.0");
    let paths = spec["paths"].as_object().unwrap();
    for path in [
        "/healthz",
        "/metrics",
        "/api/v1/regions",
        "/api/v1/clinics",
        "/api/v1/clinics/{id}",
        "/api/v1/identity/start",
        "/api/v1/identity/verify",
        "/api/v1/eligibility",
        "/api/v1/bookings",
        "/api/v1/bookings/{id}",
        "/api/v1/bookings/{id}/cancel",
        "/api/v1/bookings/{id}/change",
        "/api/v1/queue/arrive",
        "/api/v1/queue/status",
        "/api/v1/queue/exchange",
        "/api/v1/admin/queue",
        "/api/v1/admin/openings",
        "/wait",
    ] {
        assert!(paths.contains_key(path), "OpenAPI misses {path}");
    }
    let (status, error) = server.get("/api/v1/nothing-here", None).await;
    assert_eq!((status, error["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_priority_list_lets_its_members_book_whatever_their_birth_year() {
    let server = TestServer::start(small_world()).await;
    let nurse = server.login("김간호", "850505-2000001").await;
    let (_, before) = server.get("/api/v1/eligibility", Some(&nurse)).await;
    assert_eq!(before["code"], "not_yet", "{before}");

    let upload = |rrns: Vec<&str>| {
        server
            .http
            .post(server.url("/api/v1/admin/priority-lists"))
            .bearer_auth(common::OPERATOR_TOKEN)
            .json(&json!({
                "name_ko": "보건의료인", "name_en": "Health workers",
                "opens_at": "2021-07-19T00:00:00Z", "closes_at": "2021-07-31T00:00:00Z",
                "rrns": rrns,
            }))
            .send()
    };
    // One bad line refuses the whole upload and names the line, without echoing the number.
    let refused = upload(vec!["850505-2000001", "851332-1000000"])
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    let error: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(
        (error["error"].as_str(), error["detail"]["line"].as_u64()),
        (Some("rrn_birth_date"), Some(2))
    );
    assert!(!error.to_string().contains("851332"));
    let (_, unchanged) = server.get("/api/v1/eligibility", Some(&nurse)).await;
    assert_eq!(unchanged["code"], "not_yet");

    let added = upload(vec!["850505-2000001", "900101-1000001"])
        .await
        .unwrap();
    assert_eq!(added.status().as_u16(), 201);
    let (_, after) = server.get("/api/v1/eligibility", Some(&nurse)).await;
    assert_eq!(after["code"], "eligible", "{after}");
    assert_eq!(after["via"]["priority_list"], 1);
    let (status, _) = server
        .post(
            "/api/v1/bookings",
            Some(&nurse),
            booking_body(0, "2021-08-16", 9, "pfizer"),
            None,
        )
        .await;
    assert_eq!(status, 201);

    let not_operator = server
        .http
        .post(server.url("/api/v1/admin/priority-lists"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(not_operator.status().as_u16(), 401);
}

/// A band that fills between showing and booking: the 409 names the nearest free bands (same
/// clinic, the asked day then the next days; then the nearest clinic), and a new request for
/// one of them, with a new idempotency key, books it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_band_offers_the_nearest_free_ones() {
    let server = TestServer::start(small_world()).await;
    // Clinic 1 sees two people per band: two bookings fill 2021-08-16 10:00.
    for n in [40, 41] {
        let token = server.login("선착순", &rrn_1967(n)).await;
        let (status, body) = server
            .post(
                "/api/v1/bookings",
                Some(&token),
                booking_body(1, "2021-08-16", 10, "moderna"),
                None,
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let late = server.login("늦은사람", &rrn_1967(42)).await;
    let (status, refusal) = server
        .post(
            "/api/v1/bookings",
            Some(&late),
            booking_body(1, "2021-08-16", 10, "moderna"),
            Some("late-1"),
        )
        .await;
    assert_eq!(
        (status, refusal["error"].as_str()),
        (409, Some("slot_full"))
    );
    let offered: Vec<(u64, &str, u64)> = refusal["detail"]["alternatives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert!(a["remaining"].as_u64().unwrap() > 0, "{a}");
            (
                a["clinic_id"].as_u64().unwrap(),
                a["date"].as_str().unwrap(),
                a["hour"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        offered,
        [
            (1, "2021-08-16", 9),
            (1, "2021-08-16", 11),
            (1, "2021-08-17", 10),
            (1, "2021-08-18", 10),
            (0, "2021-08-16", 10),
        ],
        "same clinic (two bands that day, then one a day), then the nearest clinic with moderna; \
         Busan (over 10 km) and the full band itself are never offered: {refusal}"
    );
    let nearest = &refusal["detail"]["alternatives"][4];
    assert_eq!(nearest["clinic_name"], "테스트의원 0");
    assert_eq!(nearest["label"], "10:00–11:00");
    assert!(nearest["distance_km"].as_f64().unwrap() > 0.5);

    // The refusal is recorded under its key: the same key for the offered band is another
    // request (the page renews its key after any definite answer).
    let (status, reused) = server
        .post(
            "/api/v1/bookings",
            Some(&late),
            booking_body(1, "2021-08-16", 11, "moderna"),
            Some("late-1"),
        )
        .await;
    assert_eq!(
        (status, reused["error"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    let (status, booked) = server
        .post(
            "/api/v1/bookings",
            Some(&late),
            booking_body(1, "2021-08-16", 11, "moderna"),
            Some("late-2"),
        )
        .await;
    assert_eq!(status, 201, "{booked}");
    assert_eq!(booked["doses"][0]["hour"], 11);

    // A change into a full band is refused the same way, with the same kind of offers.
    let id = booked["id"].as_u64().unwrap();
    let (status, refusal) = server
        .post(
            &format!("/api/v1/bookings/{id}/change"),
            Some(&late),
            json!({"clinic_id": 1, "date": "2021-08-16", "hour": 10}),
            None,
        )
        .await;
    assert_eq!(
        (status, refusal["error"].as_str()),
        (409, Some("slot_full"))
    );
    assert_eq!(refusal["detail"]["alternatives"][0]["hour"], 9, "{refusal}");
    // Other refusals carry no offers.
    let (status, other) = server
        .post(
            &format!("/api/v1/bookings/{id}/change"),
            Some(&late),
            json!({"clinic_id": 1, "date": "2021-08-16", "hour": 18}),
            None,
        )
        .await;
    assert_eq!(
        (status, other["error"].as_str()),
        (422, Some("hour_not_open"))
    );
    assert!(other.get("detail").is_none(), "{other}");
}

/// The offers are bounded: four at the asked clinic, then one band at each of the four nearest
/// clinics that give the vaccine (a nearer one that does not is passed over), whatever is near.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offers_for_a_full_band_are_bounded_and_nearest_first() {
    use domain::product::Product;
    // Clinic 0, then clinics 1..=8 ever further east (about 0.9 km apart); clinic 1 gives only
    // Pfizer. One person per band everywhere.
    let world: Vec<_> = (0..9)
        .map(|i| {
            let products: &[(Product, u32)] = if i == 1 {
                &[(Product::Pfizer, 50)]
            } else {
                &[(Product::Moderna, 50)]
            };
            common::clinic(
                i,
                11010,
                37.5735,
                126.9790 + 0.01 * f64::from(i),
                1,
                products,
            )
        })
        .collect();
    let server = TestServer::start(world).await;
    let first = server.login("선착순", &rrn_1967(70)).await;
    let (status, _) = server
        .post(
            "/api/v1/bookings",
            Some(&first),
            booking_body(0, "2021-08-16", 10, "moderna"),
            None,
        )
        .await;
    assert_eq!(status, 201);
    let late = server.login("늦은사람", &rrn_1967(71)).await;
    let (status, refusal) = server
        .post(
            "/api/v1/bookings",
            Some(&late),
            booking_body(0, "2021-08-16", 10, "moderna"),
            None,
        )
        .await;
    assert_eq!(status, 409);
    let offers = refusal["detail"]["alternatives"].as_array().unwrap();
    let clinics: Vec<u64> = offers
        .iter()
        .map(|a| a["clinic_id"].as_u64().unwrap())
        .collect();
    assert_eq!(clinics, [0, 0, 0, 0, 2, 3, 4, 5], "{refusal}");
    let distances: Vec<f64> = offers[4..]
        .iter()
        .map(|a| a["distance_km"].as_f64().unwrap())
        .collect();
    assert!(distances.windows(2).all(|w| w[0] < w[1]), "{distances:?}");
    assert!(
        offers[4..]
            .iter()
            .all(|a| a["date"] == "2021-08-16" && a["hour"] == 10),
        "the asked day and hour where it is free: {refusal}"
    );
}
