//! A small HTTP client for end-to-end tests: every response read completely, with helpers for
//! problem+json answers and the management API.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::{TestApp, TestServer};

/// A server reachable at a URL: a [`TestServer`] process or an in-process [`TestApp`].
pub trait Served {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    fn url(&self) -> &str;
}

impl Served for TestServer {
    fn url(&self) -> &str {
        &self.url
    }
}

impl Served for TestApp {
    fn url(&self) -> &str {
        &self.url
    }
}

/// A response, read completely.
pub struct Res {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    pub text: String,
}

impl Res {
    /// A response read completely; `body` is its JSON, or `Null`.
    fn new(status: u16, headers: reqwest::header::HeaderMap, text: String) -> Self {
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Res {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The problem+json `code`.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or("")
    }

    pub fn data(&self) -> &Vec<Value> {
        self.body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("expected a data array, got {}", self.text))
    }

    pub fn ids(&self) -> Vec<String> {
        self.data()
            .iter()
            .map(|e| e["id"].as_str().expect("id").to_string())
            .collect()
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        self
    }

    /// Asserts an RFC 9457 problem with this status and code.
    #[track_caller]
    pub fn expect_problem(self, status: u16, code: &str) -> Self {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        assert_eq!(self.code(), code, "unexpected problem: {}", self.text);
        assert_eq!(self.body["status"], status, "{}", self.text);
        self
    }
}

/// A client of one server; cheap to clone into other threads.
#[derive(Clone)]
pub struct Api {
    transport: Transport,
}

/// How requests reach the server.
#[derive(Clone)]
enum Transport {
    /// Over a socket, to a server process or an in-process server.
    Http {
        url: String,
        client: reqwest::blocking::Client,
    },
    /// Straight into the router with `tower::ServiceExt::oneshot`, as if from `peer`.
    Router {
        router: axum::Router,
        runtime: Arc<tokio::runtime::Runtime>,
        peer: Option<SocketAddr>,
    },
}

impl Api {
    /// A client of a server process or an in-process server, over its socket.
    pub fn of(server: &impl Served) -> Self {
        Self::at(server.url())
    }

    /// A client of the server at `url` (no trailing slash).
    pub fn at(url: &str) -> Self {
        Api {
            transport: Transport::Http {
                url: url.to_string(),
                client: reqwest::blocking::Client::new(),
            },
        }
    }

    /// A client that hands requests to `router` on `runtime`, without a socket.
    pub fn router(router: axum::Router, runtime: Arc<tokio::runtime::Runtime>) -> Self {
        Api {
            transport: Transport::Router {
                router,
                runtime,
                peer: None,
            },
        }
    }

    /// The same router client, its requests coming from `peer` (what the accept loop tells
    /// handlers as `ConnectInfo`).
    pub fn from_peer(&self, peer: SocketAddr) -> Self {
        let mut api = self.clone();
        if let Transport::Router { peer: p, .. } = &mut api.transport {
            *p = Some(peer);
        }
        api
    }

    pub fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Res {
        let (router, runtime, peer) = match &self.transport {
            Transport::Http { url, client } => {
                return Self::send_http(client, url, method, path, token, headers, body);
            }
            Transport::Router {
                router,
                runtime,
                peer,
            } => (router, runtime, peer),
        };
        let mut req = axum::http::Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut req = req
            .body(axum::body::Body::from(body.unwrap_or_default()))
            .expect("a valid request");
        if let Some(peer) = peer {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(*peer));
        }
        let (status, headers, bytes) = runtime.block_on(async {
            let res = router.clone().oneshot(req).await.expect("infallible");
            let (parts, body) = res.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .expect("response body");
            (parts.status.as_u16(), parts.headers, bytes)
        });
        Res::new(
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    fn send_http(
        client: &reqwest::blocking::Client,
        url: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Res {
        let mut req = client.request(method, format!("{url}{path}"));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let res = req.send().expect("HTTP request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        Res::new(status, headers, res.text().expect("response body"))
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Res {
        self.send(Method::GET, path, token, &[], None)
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Res {
        self.send(Method::GET, path, None, headers, None)
    }

    /// Sends `body` as `application/json` with extra headers.
    pub fn json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> Res {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.send(
            method,
            path,
            token,
            &all,
            Some(body.to_string().into_bytes()),
        )
    }

    /// A request with an optional JSON body.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Res {
        match body {
            Some(b) => self.json(method, path, token, &[], b),
            None => self.send(method, path, token, &[], None),
        }
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Res {
        self.json(Method::POST, path, token, &[], body)
    }

    /// Creates a draft and returns its data.
    #[track_caller]
    pub fn create(&self, token: &str, ty: &str, fields: &Value) -> Value {
        let res = self
            .post(&format!("/api/v1/manage/{ty}"), Some(token), fields)
            .expect(201);
        res.body["data"].clone()
    }

    #[track_caller]
    pub fn transition(&self, token: &str, ty: &str, id: &str, to: &str) -> Value {
        let res = self
            .post(
                &format!("/api/v1/manage/{ty}/{id}/transitions"),
                Some(token),
                &json!({ "to": to }),
            )
            .expect(200);
        res.body["data"].clone()
    }

    /// The version (ETag) of an entry's current version, from the management API.
    #[track_caller]
    pub fn version(&self, token: &str, ty: &str, id: &str) -> String {
        let res = self
            .get(&format!("/api/v1/manage/{ty}/{id}"), Some(token))
            .expect(200);
        res.header("etag")
            .expect("ETag on a managed entry")
            .to_string()
    }

    /// The id of a token, found among the tokens by its visible prefix.
    #[track_caller]
    pub fn token_id(&self, admin: &str, token: &str) -> String {
        let prefix = token.split('_').nth(1).expect("vb_<prefix>_<secret>");
        let res = self.get("/api/v1/admin/tokens", Some(admin)).expect(200);
        res.data()
            .iter()
            .find(|t| t["prefix"] == prefix)
            .and_then(|t| t["id"].as_str())
            .unwrap_or_else(|| panic!("no token with prefix {prefix}: {}", res.text))
            .to_string()
    }

    /// Every published entry of a type, newest first, through all pages.
    pub fn all_published(&self, ty: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/content/{ty}?limit=100&cursor={c}"),
                None => format!("/api/v1/content/{ty}?limit=100"),
            };
            let res = self.get(&path, None).expect(200);
            out.extend(res.data().iter().cloned());
            match res.body["meta"]["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }

    /// Public change events after `since`, through all pages, and the `since` to go on with.
    pub fn changes(&self, since: u64) -> (Vec<Value>, u64) {
        let mut since = since;
        let mut events = Vec::new();
        loop {
            let res = self
                .get(&format!("/api/v1/changes?since={since}&limit=1000"), None)
                .expect(200);
            events.extend(res.data().iter().cloned());
            let next = res.body["meta"]["next_since"].as_u64().expect("next_since");
            if next == since {
                return (events, since);
            }
            since = next;
        }
    }
}
