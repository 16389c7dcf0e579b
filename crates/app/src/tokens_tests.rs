//! The tokens' keeper both ways: a keychain that answers (keyring's mock credential store
//! behind the real `SystemKeychain`, and a keychain that stops answering midway), and the
//! file when there is none, for real: an app on a folder an older version left, with a real
//! agent it must still reach after moving its token out of agents.json.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use keyring::mock::MockCredential;

use super::*;
use crate::keychain::{NoKeychain, SystemKeychain};
use crate::settings::TOKENS_FILE;
use crate::tests::{app_in, start_agent};
use crate::types::{AddAgent, TokenStorage};

fn agent(id: &str, token: &str) -> StoredAgent {
    StoredAgent {
        id: id.into(),
        name: id.to_uppercase(),
        url: "https://nas:7040".into(),
        fingerprint: None,
        token: token.into(),
    }
}

fn mock_keychain() -> Arc<SystemKeychain> {
    // Process-wide, and only the `SystemKeychain`s of these tests use it.
    keyring::set_default_credential_builder(keyring::mock::default_credential_builder());
    Arc::new(SystemKeychain::default())
}

fn file_tokens(dir: &Path) -> Option<BTreeMap<String, String>> {
    let bytes = std::fs::read(dir.join(TOKENS_FILE)).ok()?;
    Some(serde_json::from_slice(&bytes).expect("tokens JSON"))
}

#[test]
fn tokens_go_to_the_keychain_and_an_older_agents_json_gives_them_up() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = TokenStore::new(mock_keychain(), dir.path());
    store.put("a1", "t1").expect("kept");
    assert_eq!(store.storage(), TokenStorage::Keychain);
    assert_eq!(
        file_tokens(dir.path()),
        None,
        "no file while a keychain answers"
    );

    // a2's token was in agents.json: it moves; a1's comes from the keychain.
    let mut agents = vec![agent("a1", ""), agent("a2", "t2")];
    assert!(store.load(&mut agents), "agents.json must be written again");
    let tokens: Vec<&str> = agents.iter().map(|a| a.token.as_str()).collect();
    assert_eq!(tokens, ["t1", "t2"]);
    let mut again = vec![agent("a1", ""), agent("a2", "")];
    assert!(!store.load(&mut again));
    assert_eq!(again[1].token, "t2", "the keychain holds it now");
    assert_eq!(file_tokens(dir.path()), None);
    assert_eq!(store.storage(), TokenStorage::Keychain);
    let json = serde_json::to_string(&agents).expect("json");
    assert!(!json.contains("t1") && !json.contains("t2"), "{json}");
}

#[test]
fn a_keychain_that_stops_answering_hands_over_to_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let keychain = mock_keychain();
    let store = TokenStore::new(keychain.clone(), dir.path());
    let entry = keychain.entry("a1").expect("entry");
    let mock: &MockCredential = entry
        .get_credential()
        .downcast_ref()
        .expect("the mock credential");
    mock.set_error(keyring::Error::NoStorageAccess(
        "the collection is locked".into(),
    ));
    store.put("a1", "t1").expect("kept anyway");
    let TokenStorage::File { path, reason } = store.storage() else {
        panic!("still the keychain: {:?}", store.storage());
    };
    assert_eq!(Path::new(&path), dir.path().join(TOKENS_FILE));
    assert!(reason.contains("locked"), "{reason}");
    assert_eq!(
        file_tokens(dir.path()),
        Some(BTreeMap::from([("a1".into(), "t1".into())]))
    );
    let mut agents = vec![agent("a1", "")];
    store.load(&mut agents);
    assert_eq!(agents[0].token, "t1");
}

/// A keychain in memory, shared between two stores as between two starts of the app.
#[derive(Debug, Default)]
struct Memory(Mutex<BTreeMap<String, String>>);
impl Keychain for Memory {
    fn get(&self, id: &str) -> Result<Option<String>, KeychainError> {
        Ok(lock(&self.0).get(id).cloned())
    }
    fn set(&self, id: &str, token: &str) -> Result<(), KeychainError> {
        lock(&self.0).insert(id.into(), token.into());
        Ok(())
    }
    fn delete(&self, id: &str) -> Result<(), KeychainError> {
        lock(&self.0).remove(id);
        Ok(())
    }
}

#[test]
fn tokens_the_file_kept_move_to_a_keychain_that_answers_later() {
    let dir = tempfile::tempdir().expect("tmp");
    let none = TokenStore::new(Arc::new(NoKeychain("no Secret Service".into())), dir.path());
    none.put("a1", "t1").expect("kept in the file");
    assert!(matches!(none.storage(), TokenStorage::File { .. }));
    let memory = Arc::new(Memory::default());
    let later = TokenStore::new(memory.clone(), dir.path());
    let mut agents = vec![agent("a1", "")];
    assert!(!later.load(&mut agents));
    assert_eq!(agents[0].token, "t1");
    assert_eq!(lock(&memory.0).get("a1").map(String::as_str), Some("t1"));
    assert_eq!(file_tokens(dir.path()), None, "the file is gone once empty");
    later.remove("a1");
    for _ in 0..100 {
        if lock(&memory.0).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(lock(&memory.0).is_empty(), "removed from the keychain too");
}

/// The file for real: an app on the folder an older version left (a pairing link and its
/// token in agents.json) keeps reaching its agent, and agents.json keeps no secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_keychain_tokens_live_in_a_private_file_and_the_app_says_where() {
    let dir = tempfile::tempdir().expect("tempdir");
    let test_agent = start_agent(dir.path()).await;
    let link: tidemark_core::PairingLink = test_agent.link.parse().expect("link");
    let old = serde_json::json!([{
        "id": "old", "name": "nas", "url": test_agent.link, "token": link.token,
    }]);
    std::fs::write(
        dir.path().join("agents.json"),
        serde_json::to_vec(&old).expect("json"),
    )
    .expect("write");

    let app = app_in(dir.path());
    let agents_json = std::fs::read_to_string(dir.path().join("agents.json")).expect("read");
    assert!(!agents_json.contains(&link.token), "{agents_json}");
    assert!(!agents_json.contains("tidemark://"), "{agents_json}");
    assert!(
        agents_json.contains(&link.fingerprint.to_string()),
        "{agents_json}"
    );
    assert_eq!(
        file_tokens(dir.path()),
        Some(BTreeMap::from([("old".into(), link.token.clone())]))
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(TOKENS_FILE))
            .expect("tokens file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let TokenStorage::File { path, reason } = app.fleet().await.tokens else {
        panic!("the app must say where tokens are");
    };
    assert_eq!(Path::new(&path), dir.path().join(TOKENS_FILE));
    assert_eq!(reason, "no keychain in the app's tests");
    app.list_remote_jobs("old")
        .await
        .expect("reached with the token moved out");

    // Added and removed: the file follows.
    let added = app
        .add_agent(AddAgent {
            name: "again".into(),
            url: test_agent.link.clone(),
            token: String::new(),
        })
        .await
        .expect("added");
    assert_eq!(file_tokens(dir.path()).map(|t| t.len()), Some(2));
    app.remove_agent("old").expect("removed");
    drop(app);
    let restarted = app_in(dir.path());
    restarted
        .list_remote_jobs(&added.id)
        .await
        .expect("reached after a restart");
    assert_eq!(
        file_tokens(dir.path()).map(|t| t.into_keys().collect::<Vec<_>>()),
        Some(vec![added.id.clone()])
    );
    restarted.remove_agent(&added.id).expect("removed");
    assert_eq!(file_tokens(dir.path()), None, "nothing left to keep");
    test_agent.server.abort();
}

#[test]
fn the_file_is_not_the_one_an_agent_on_this_machine_keeps_its_own_tokens_in() {
    // `tidemark agent` keeps agent-tokens.json in the same config folder by default.
    assert_ne!(TOKENS_FILE, "agent-tokens.json");
}

/// An agent stored without a token anywhere (a keychain wiped, a file deleted) stays on the
/// dashboard, unreachable with why, so it can be removed and added again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_whose_token_is_lost_is_shown_unreachable_with_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lost = serde_json::json!([{"id": "lost", "name": "nas", "url": "https://127.0.0.1:9"}]);
    std::fs::write(
        dir.path().join("agents.json"),
        serde_json::to_vec(&lost).expect("json"),
    )
    .expect("write");
    let app = app_in(dir.path());
    let mut shown = None;
    for _ in 0..200 {
        shown = app.fleet().await.agents.into_iter().next();
        if shown
            .as_ref()
            .is_some_and(|a| a.reachability != crate::types::Reachability::Checking)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    match shown.map(|a| a.reachability) {
        Some(crate::types::Reachability::Unreachable { reason, code, .. }) => {
            assert_eq!(code, crate::types::ErrorCode::AgentAuthFailed);
            assert!(reason.contains("no token is kept"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}
