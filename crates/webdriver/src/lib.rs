//! A small W3C WebDriver client: only the endpoints the desktop suite and the benchmark use,
//! over blocking HTTP. tauri-driver forwards them to WebKitWebDriver, which drives the app's
//! real webview.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The W3C key under which an element reference travels.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

#[derive(Debug)]
pub struct Session {
    http: reqwest::blocking::Client,
    base: String,
}

#[derive(Debug, Clone)]
pub struct Element {
    id: String,
}

impl Session {
    /// Starts the application at `app` through the WebDriver server at `server`.
    pub fn new(server: &str, app: &std::path::Path) -> Result<Session, String> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "wry",
            "tauri:options": { "application": app }
        }}});
        let v = send(&http, "POST", &format!("{server}/session"), Some(caps))?;
        let id = v["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session id in {v}"))?;
        Ok(Session {
            http,
            base: format!("{server}/session/{id}"),
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        send(&self.http, method, &format!("{}{path}", self.base), body)
    }

    /// Every element matching a CSS selector, now.
    pub fn all(&self, css: &str) -> Vec<Element> {
        self.call(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e[ELEMENT].as_str())
        .map(|id| Element { id: id.to_owned() })
        .collect()
    }

    pub fn find(&self, css: &str) -> Option<Element> {
        self.all(css).into_iter().next()
    }

    /// Waits for an element: the UI renders asynchronously after every command. For tests:
    /// it panics when the time runs out ([`wait_until_or`] does not).
    pub fn wait(&self, css: &str, timeout: Duration) -> Element {
        let what = format!("an element matching {css}");
        wait_until(&what, timeout, || self.find(css))
    }

    pub fn click(&self, e: &Element) -> Result<(), String> {
        self.call("POST", &format!("/element/{}/click", e.id), Some(json!({})))
            .map(|_| ())
            .map_err(|err| format!("click: {err}"))
    }

    pub fn clear(&self, e: &Element) -> Result<(), String> {
        self.call("POST", &format!("/element/{}/clear", e.id), Some(json!({})))
            .map(|_| ())
            .map_err(|err| format!("clear: {err}"))
    }

    pub fn type_text(&self, e: &Element, text: &str) -> Result<(), String> {
        self.call(
            "POST",
            &format!("/element/{}/value", e.id),
            Some(json!({ "text": text })),
        )
        .map(|_| ())
        .map_err(|err| format!("type {text:?}: {err}"))
    }

    /// The element's rendered text; empty when it went away meanwhile.
    pub fn text(&self, e: &Element) -> String {
        self.call("GET", &format!("/element/{}/text", e.id), None)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Whether a checkbox is checked.
    pub fn selected(&self, e: &Element) -> bool {
        self.call("GET", &format!("/element/{}/selected", e.id), None)
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    }

    pub fn attr(&self, e: &Element, name: &str) -> Option<String> {
        self.call("GET", &format!("/element/{}/attribute/{name}", e.id), None)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
    }

    /// Runs a script in the page; its `return` value comes back as JSON.
    pub fn script(&self, script: &str, args: Value) -> Result<Value, String> {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Moves the mouse pointer to the middle of `e`.
    pub fn hover(&self, e: &Element) -> Result<(), String> {
        self.pointer_to(json!({ ELEMENT: e.id }), 0, 0)
    }

    /// Moves the mouse pointer to a point of the viewport.
    pub fn pointer_at(&self, x: i64, y: i64) -> Result<(), String> {
        self.pointer_to(json!("viewport"), x, y)
    }

    fn pointer_to(&self, origin: Value, x: i64, y: i64) -> Result<(), String> {
        let actions = json!({ "actions": [{
            "type": "pointer", "id": "mouse", "parameters": { "pointerType": "mouse" },
            "actions": [{ "type": "pointerMove", "duration": 0, "origin": origin, "x": x, "y": y }]
        }]});
        self.call("POST", "/actions", Some(actions)).map(|_| ())
    }

    /// A PNG of the window.
    pub fn screenshot(&self) -> Result<Vec<u8>, String> {
        let v = self.call("GET", "/screenshot", None)?;
        let b64 = v.as_str().ok_or("screenshot is not a string")?;
        base64_decode(b64)
    }

    pub fn windows(&self) -> Vec<String> {
        self.call("GET", "/window/handles", None)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|h| h.as_str().map(str::to_owned))
            .collect()
    }

    pub fn switch_to(&self, handle: &str) -> Result<(), String> {
        self.call("POST", "/window", Some(json!({ "handle": handle })))
            .map(|_| ())
    }

    pub fn current_window(&self) -> Option<String> {
        self.call("GET", "/window", None)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
    }

    /// Ends the session; the driver stops the application.
    pub fn quit(&self) {
        let _ = self.call("DELETE", "", None);
    }
}

fn send(
    http: &reqwest::blocking::Client,
    method: &str,
    url: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut req = http.request(method, url);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let bytes = resp.bytes().map_err(|e| format!("{url}: {e}"))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("{url}: {e}"))?;
    if status.is_success() {
        Ok(v["value"].clone())
    } else {
        Err(format!("{url}: {status}: {}", v["value"]))
    }
}

/// Polls `f` until it yields something. The UI is asynchronous; the timeout only bounds a
/// failure, it asserts nothing about speed.
pub fn wait_until<T>(what: &str, timeout: Duration, f: impl FnMut() -> Option<T>) -> T {
    wait_until_or(timeout, f).unwrap_or_else(|| panic!("waited {timeout:?} for {what}"))
}

/// [`wait_until`] that lets the caller say more when it times out.
pub fn wait_until_or<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("bad base64 byte {c}")),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}
