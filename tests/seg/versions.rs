//! Model versions in a data folder: add, list, switch, roll back, remove.

use burn::tensor::Device;
use lungscope::seg::model::Head;
use lungscope::seg::model::weights::ModelCard;
use lungscope::seg::store::{Active, ModelStore, fine_tuned_id};

use crate::support;

#[test]
fn versions_can_be_added_switched_and_rolled_back() {
    let dir = tempfile::tempdir().expect("temp");
    let store = ModelStore::at(dir.path().join("models"));
    assert!(store.list().expect("empty list").is_empty());
    assert_eq!(store.active().expect("active"), Active::Default);
    let device = Device::flex();
    let config = support::seg::tiny_config(Head::Sigmoid { channels: 2 }, 16);
    let model = config.init(&device).expect("builds");
    let metrics = serde_json::json!({"losses": [0.9, 0.5]});
    let first_card = ModelCard {
        id: fine_tuned_id("lungscope-default"),
        date: "2026-01-01".into(),
        ..ModelCard::default()
    };
    let v1 = store
        .add(&config, &model, &first_card, &metrics)
        .expect("add v1");
    let second_card = ModelCard {
        id: v1.id.clone(), // same id: made unique
        date: "2026-01-02".into(),
        base_model: Some(v1.id.clone()),
        ..ModelCard::default()
    };
    let v2 = store
        .add(&config, &model, &second_card, &metrics)
        .expect("add v2");
    assert_ne!(v1.id, v2.id);
    let list = store.list().expect("list");
    assert_eq!(
        list.iter().map(|v| v.id.clone()).collect::<Vec<_>>(),
        vec![v1.id.clone(), v2.id.clone()]
    );
    assert!(
        dir.path()
            .join("models")
            .join(&v2.id)
            .join("metrics.json")
            .is_file()
    );

    store.activate(&v2.id).expect("activate");
    assert_eq!(
        store.active().expect("active"),
        Active::Version(v2.id.clone())
    );
    assert!(
        store
            .list()
            .expect("list")
            .iter()
            .any(|v| v.active && v.id == v2.id)
    );
    let loaded = store
        .load_active(&device)
        .expect("loads the active version");
    assert_eq!(loaded.id, v2.id);
    // Rolling back goes to the model v2 was tuned from, then to the default.
    assert_eq!(
        store.roll_back().expect("roll back"),
        Active::Version(v1.id.clone())
    );
    assert_eq!(store.roll_back().expect("roll back"), Active::Default);
    store.activate(&v1.id).expect("activate");
    store.remove(&v1.id).expect("remove");
    assert_eq!(store.active().expect("active"), Active::Default);
    assert_eq!(store.list().expect("list").len(), 1);
    assert!(store.activate("../escape").is_err());
    assert!(store.activate("missing").is_err());
}
