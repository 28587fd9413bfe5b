//! The filesystem layer on its own: `SwiftFs` over the in-memory store, driven the
//! way src/fuse.rs drives it for the kernel (tests/common/model/fs_target.rs), with
//! no FUSE and no server, so that thousands of operations over many seeds take
//! seconds: the model test of tests/model.rs (see tests/common/model), once per
//! seed, with the dir cache TTL, the mount's prefix and the store's listing page
//! size varied by seed.
//!
//! `SWIFTMOUNT_MODEL_SEEDS=N` runs seeds 1..=N (default 20),
//! `SWIFTMOUNT_MODEL_SEED=S` only seed S (to replay a failure),
//! `SWIFTMOUNT_MODEL_OPS` is the model's operations per seed (default 1000),
//! `SWIFTMOUNT_MODEL_TTL` its dir cache TTL in seconds (default: 0, 1 or 30 by seed),
//! `SWIFTMOUNT_MODEL_HISTORY` how many operations a failure shows (default 20).

mod common;

use common::model::fs_target::FsTarget;
use common::model::{LargeFiles, Model, STREAM_LIMIT, Target, env_num};
use std::sync::Arc;
use std::time::{Duration, Instant};
use swiftmount::source::Location;
use swiftmount::swift::{ContainerName, MemoryStore};

const CONTAINER: &str = "model";

/// The seeds to run: `SWIFTMOUNT_MODEL_SEED` alone, or 1..=`SWIFTMOUNT_MODEL_SEEDS`.
fn seeds(default_count: u64) -> Vec<u64> {
    if std::env::var_os("SWIFTMOUNT_MODEL_SEED").is_some() {
        vec![env_num("SWIFTMOUNT_MODEL_SEED", 1)]
    } else {
        (1..=env_num("SWIFTMOUNT_MODEL_SEEDS", default_count)).collect()
    }
}

fn location(prefix: &str) -> Location {
    Location {
        container: ContainerName::new(CONTAINER).unwrap(),
        prefix: prefix.to_string(),
    }
}

#[test]
fn random_operations_on_the_fs_layer_match_a_local_directory() {
    let ops = env_num("SWIFTMOUNT_MODEL_OPS", 1000) as usize;
    let start = Instant::now();
    let seeds = seeds(20);
    let mut total_ops = 0;
    for &seed in &seeds {
        let ttl = env_num("SWIFTMOUNT_MODEL_TTL", [0, 1, 30][(seed % 3) as usize]);
        // listings in pages of a few rows follow the marker, as in a large folder
        let page_size = [10_000, 3][(seed % 2) as usize];
        let prefix = ["", "mounted/prefix/"][(seed / 2 % 2) as usize];
        let store = Arc::new(MemoryStore::with_page_size(page_size));
        let target = FsTarget::new(store, location(prefix), Duration::from_secs(ttl));
        let described = format!("{}, listing pages of {page_size}", target.describe());
        // one per seed: each of its uploads hashes all of it, most of a seed's time
        let large = LargeFiles {
            sizes: STREAM_LIMIT + 1..STREAM_LIMIT + (1 << 20),
            count: 1,
        };
        let report = Model::new(seed, target, large).run(ops);
        println!("model seed {seed} ({described}): {report}");
        total_ops += report.ops;
    }
    println!(
        "model over the fs layer: {} seeds, {total_ops} operations in {:.1?}",
        seeds.len(),
        start.elapsed()
    );
}
