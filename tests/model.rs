//! The model test (see tests/common/model) over the real mount: `swiftmount` on the
//! local Swift, against a local directory.
//!
//! `SWIFTMOUNT_MODEL_SEED` picks the sequence (default 1), `SWIFTMOUNT_MODEL_OPS` its
//! length (default 1000), `SWIFTMOUNT_MODEL_VERBOSE=1` mounts with `-vv`,
//! `SWIFTMOUNT_MODEL_HISTORY` is how many operations a failure shows (default 20),
//! `SWIFTMOUNT_MODEL_LOG=FILE` keeps the whole mount log of a failed run,
//! `SWIFTMOUNT_MODEL_TTL` sets `--dir-cache-ttl` (default: 1, 2 or 30 by seed). A mismatch
//! panics with the seed, the step and the last operations, so it can be replayed.

mod common;

use common::lab::{self, TestContainer};
use common::model::mount_target::mount_target;
use common::model::{LargeFiles, Model, STREAM_LIMIT, env_num};

/// Small segments so that a large file is a few segments only.
const SEGMENT_MIB: &str = "8";

#[tokio::test(flavor = "multi_thread")]
async fn random_operations_match_a_local_directory() {
    let seed = env_num("SWIFTMOUNT_MODEL_SEED", 1);
    let ops = env_num("SWIFTMOUNT_MODEL_OPS", 1000) as usize;
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "model").await;
    let source = t.name.as_str().to_string();
    // Listings and kernel attributes expire after the TTL: the mount's own changes must
    // survive that, so a short one is part of what is tested.
    let ttl: &'static str = match std::env::var("SWIFTMOUNT_MODEL_TTL") {
        Ok(v) => Box::leak(v.into_boxed_str()),
        // (0, asking Swift for every lookup, is too slow for a default run)
        Err(_) => ["1", "2", "30"][(seed % 3) as usize],
    };
    let run = tokio::task::spawn_blocking(move || {
        let mut mount_args = vec!["--segment-size", SEGMENT_MIB, "--dir-cache-ttl", ttl];
        if std::env::var_os("SWIFTMOUNT_MODEL_VERBOSE").is_some() {
            mount_args.push("-vv");
        }
        let target = mount_target(source, mount_args);
        let large = LargeFiles {
            sizes: STREAM_LIMIT + 1..STREAM_LIMIT + (9 << 20),
            count: 3,
        };
        let report = Model::new(seed, target, large).run(ops);
        println!("model seed {seed} (dir-cache-ttl {ttl}): {report}");
    })
    .await;
    t.cleanup_best_effort().await;
    if let Err(e) = run {
        std::panic::resume_unwind(e.into_panic());
    }
}
