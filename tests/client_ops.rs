//! The Swift operations the filesystem layers use, against the real local Swift.

mod common;

use bytes::Bytes;
use common::lab::{self, TestContainer, obj};
use common::objects::{listed_names, make_slo};
use futures::StreamExt;
use std::time::{Duration, SystemTime};
use swiftmount::swift::{ListEntry, ListQuery, Manifest, ObjectMeta, ObjectStore, SwiftError};

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn object_round_trip_with_awkward_names() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "names").await;
    let names = [
        "a b.txt",
        "100%",
        "what?",
        "#hash",
        "ünïcødé/ñ.bin",
        "dir/../x",
        "dir/./y",
        "+plus",
    ];
    for (i, name) in names.iter().enumerate() {
        let data = Bytes::from(pattern(1000 + i, i as u8));
        t.client
            .put_raw(
                &t.name,
                &obj(name),
                data.clone(),
                &[("x-object-meta-mtime", "1700000000.5".into())],
            )
            .await
            .unwrap();
        let info = t.client.head_object(&t.name, &obj(name)).await.unwrap();
        assert_eq!(info.size, data.len() as u64, "{name}");
        assert_eq!(
            info.meta.mtime,
            swiftmount::swift::parse_time("1700000000.5")
        );
        let newest = t.client.head_newest(&t.name, &obj(name)).await.unwrap();
        assert_eq!(
            (newest.size, &newest.etag, newest.meta.mtime),
            (info.size, &info.etag, info.meta.mtime),
            "{name}: X-Newest"
        );
        let got = t
            .client
            .get_range(&t.name, &obj(name), 0..data.len() as u64, None)
            .await
            .unwrap();
        assert_eq!(got, data, "{name}");
    }
    // the listing shows each name exactly as written
    let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(listed_names(&t).await, expected);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ranged_reads_and_streams() {
    let t = TestContainer::new(lab::client(lab::tempauth()), "range").await;
    let data = pattern(3 << 20, 7);
    let o = obj("big");
    t.client
        .put_raw(&t.name, &o, Bytes::from(data.clone()), &[])
        .await
        .unwrap();
    let got = t
        .client
        .get_range(&t.name, &o, 12345..2_000_000, None)
        .await
        .unwrap();
    assert_eq!(&got[..], &data[12345..2_000_000]);
    let mut s = t
        .client
        .get_object(&t.name, &o, Some(100..200), None)
        .await
        .unwrap();
    assert_eq!(
        s.info.size,
        data.len() as u64,
        "whole size from Content-Range"
    );
    let mut body = Vec::new();
    while let Some(chunk) = s.body.next().await {
        body.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(&body[..], &data[100..200]);
    drop(s);
    let err = t
        .client
        .get_range(
            &t.name,
            &o,
            data.len() as u64 + 10..data.len() as u64 + 20,
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SwiftError::RangeNotSatisfiable(_)), "{err:?}");
    let etag = t
        .client
        .head_object(&t.name, &o)
        .await
        .unwrap()
        .etag
        .unwrap();
    t.client
        .get_range(&t.name, &o, 0..10, Some(&etag))
        .await
        .unwrap();
    let err = t
        .client
        .get_range(&t.name, &o, 0..10, Some("0123456789abcdef0123456789abcdef"))
        .await
        .unwrap_err();
    assert!(matches!(err, SwiftError::PreconditionFailed(_)), "{err:?}");
    let err = t
        .client
        .head_object(&t.name, &obj("missing"))
        .await
        .unwrap_err();
    assert!(matches!(err, SwiftError::NotFound(_)), "{err:?}");
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn streaming_put_chunked_and_sized() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "stream").await;
    let data = pattern(5 << 20, 3);
    let chunks = || {
        let v: Vec<Result<Bytes, std::io::Error>> = data
            .chunks(64 * 1024)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures::stream::iter(v)
    };
    let md5 = t
        .client
        .put_object_stream(
            &t.name,
            &obj("chunked"),
            chunks().boxed(),
            None,
            &ObjectMeta::default(),
        )
        .await
        .unwrap();
    assert_eq!(md5.len(), 32);
    t.client
        .put_object_stream(
            &t.name,
            &obj("sized"),
            chunks().boxed(),
            Some(data.len() as u64),
            &ObjectMeta::default(),
        )
        .await
        .unwrap();
    for name in ["chunked", "sized"] {
        let info = t.client.head_object(&t.name, &obj(name)).await.unwrap();
        assert_eq!(info.size, data.len() as u64);
        assert_eq!(info.etag.as_deref(), Some(md5.as_str()));
    }
    // a body that fails half-way never becomes an object
    let failing = futures::stream::iter(vec![
        Ok(Bytes::from(vec![1u8; 1000])),
        Err(std::io::Error::other("writer went away")),
    ]);
    let err = t
        .client
        .put_object_stream(
            &t.name,
            &obj("broken"),
            failing.boxed(),
            None,
            &ObjectMeta::default(),
        )
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    let err = t
        .client
        .head_object(&t.name, &obj("broken"))
        .await
        .unwrap_err();
    assert!(matches!(err, SwiftError::NotFound(_)), "{err:?}");
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_with_prefix_delimiter_and_pages() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "list").await;
    let mut names = Vec::new();
    for i in 0..23 {
        names.push(format!("p/f{i:02}"));
    }
    names.extend([
        "p/sub/a".to_string(),
        "p/sub/b".into(),
        "q/x".into(),
        "p/sub2/c".into(),
    ]);
    for n in &names {
        t.client
            .put_raw(&t.name, &obj(n), Bytes::from_static(b"x"), &[])
            .await
            .unwrap();
    }
    let q = ListQuery {
        prefix: Some("p/".into()),
        delimiter: Some('/'),
        limit: Some(4),
        ..Default::default()
    };
    let one = t.client.list_page(&t.name, &q).await.unwrap();
    assert_eq!(one.len(), 4, "one page of limit rows");
    let rows = t.client.list_all(&t.name, &q).await.unwrap();
    let subdirs: Vec<&str> = rows
        .iter()
        .filter_map(|r| match r {
            ListEntry::Subdir { subdir } => Some(subdir.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(subdirs, ["p/sub/", "p/sub2/"]);
    let objects = rows
        .iter()
        .filter(|r| matches!(r, ListEntry::Object(_)))
        .count();
    assert_eq!(objects, 23, "paged through 7 pages of 4 without loss");
    let ListEntry::Object(first) = &rows[0] else {
        panic!()
    };
    assert_eq!(first.bytes, 1);
    assert!(first.modified().is_some());
    assert_eq!(
        t.client.container_info(&t.name).await.unwrap().object_count,
        names.len() as u64
    );
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_delete_and_slo() {
    let client = lab::client(lab::labuser_v3());
    let t = TestContainer::new(client.clone(), "slo").await;
    let segs = TestContainer::new(client.clone(), "slo-segs").await;
    // SLO segments must be at least 1 MiB except the last
    let parts = [pattern(1 << 20, 1), pattern(1 << 20, 2), pattern(1000, 3)];
    let whole = make_slo(&t, &segs, "big file", "big", &parts).await;
    let info = client.head_object(&t.name, &obj("big file")).await.unwrap();
    assert_eq!(
        (info.size, info.manifest),
        (whole.len() as u64, Some(Manifest::Slo))
    );
    let got = client
        .get_range(&t.name, &obj("big file"), 1_048_000..1_049_000, None)
        .await
        .unwrap();
    assert_eq!(&got[..], &whole[1_048_000..1_049_000]);
    let listed = client
        .list_all(&t.name, &ListQuery::default())
        .await
        .unwrap();
    let ListEntry::Object(row) = &listed[0] else {
        panic!()
    };
    assert_eq!(
        row.bytes,
        whole.len() as u64,
        "listing shows the assembled size"
    );

    // copy as manifest: a second object sharing the segments
    client
        .copy_object(
            (&t.name, &obj("big file")),
            (&t.name, &obj("renamed")),
            true,
        )
        .await
        .unwrap();
    let info = client.head_object(&t.name, &obj("renamed")).await.unwrap();
    assert_eq!(
        (info.size, info.manifest),
        (whole.len() as u64, Some(Manifest::Slo))
    );
    client
        .delete_object(&t.name, &obj("big file"))
        .await
        .unwrap();
    // deleting with its segments removes them
    client.delete_slo(&t.name, &obj("renamed")).await.unwrap();
    assert!(
        client
            .list_all(&segs.name, &ListQuery::default())
            .await
            .unwrap()
            .is_empty()
    );

    // plain copy and delete
    client
        .put_raw(&t.name, &obj("a"), Bytes::from_static(b"hello"), &[])
        .await
        .unwrap();
    client
        .copy_object((&t.name, &obj("a")), (&t.name, &obj("b c")), false)
        .await
        .unwrap();
    assert_eq!(
        client
            .get_range(&t.name, &obj("b c"), 0..5, None)
            .await
            .unwrap(),
        Bytes::from_static(b"hello")
    );
    client.delete_object(&t.name, &obj("a")).await.unwrap();
    let err = client.delete_object(&t.name, &obj("a")).await.unwrap_err();
    assert!(matches!(err, SwiftError::NotFound(_)), "{err:?}");
    let err = client
        .copy_object((&t.name, &obj("a")), (&t.name, &obj("z")), false)
        .await
        .unwrap_err();
    assert!(matches!(err, SwiftError::NotFound(_)), "{err:?}");
    t.cleanup().await;
    segs.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn account_and_metadata() {
    let client = lab::client(lab::labuser_v3());
    let t = TestContainer::new(client.clone(), "meta").await;
    let o = obj("m");
    client
        .put_raw(
            &t.name,
            &o,
            Bytes::from_static(b"abc"),
            &[("x-object-meta-color", "blue".into())],
        )
        .await
        .unwrap();
    client
        .post_object(
            &t.name,
            &o,
            &ObjectMeta::with_mtime(SystemTime::UNIX_EPOCH + Duration::from_secs(42)),
        )
        .await
        .unwrap();
    let info = client.head_object(&t.name, &o).await.unwrap();
    assert_eq!(
        info.meta.mtime,
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(42))
    );
    assert!(
        !info.meta.other.contains_key("color"),
        "POST replaces all metadata"
    );
    let account = client.account_info().await.unwrap();
    assert!(account.container_count >= 1);
    let name = t.name.clone();
    t.cleanup().await;
    let err = client.container_info(&name).await.unwrap_err();
    assert!(matches!(err, SwiftError::NotFound(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_info_of_the_local_swift() {
    // RegionTwo's proxy: /info is found beside whichever storage URL was chosen
    let client = swiftmount::swift::SwiftClient::new(
        lab::labuser_v3(),
        lab::region(Some("RegionTwo")),
        swiftmount::swift::ClientConfig::default(),
        Default::default(),
    )
    .unwrap();
    let info = client.cluster_info().await.unwrap();
    assert!(
        info.swift.version.as_deref().unwrap().starts_with("2."),
        "{info:?}"
    );
    assert_eq!(info.swift.max_file_size, Some(5 * 1024 * 1024 * 1024 + 2));
    assert_eq!(info.swift.max_meta_count, Some(90));
    assert_eq!(info.swift.max_meta_value_length, Some(256));
    assert_eq!(info.swift.max_meta_overall_size, Some(4096));
    let slo = info.slo.as_ref().expect("the lab's proxy has SLO");
    assert_eq!(slo.max_manifest_segments, Some(1000));
    assert_eq!(slo.max_manifest_size, Some(8 * 1024 * 1024));
    assert!(slo.min_segment_size.is_some());
    assert!(info.symlink.is_some() && info.object_versioning.is_some());
    assert!(info.versioned_writes.is_some());
    assert_eq!(
        info.bulk_delete.and_then(|b| b.max_deletes_per_request),
        Some(10_000)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_info_where_there_is_none() {
    // Keystone answers /info with 404: a cluster with /info switched off looks so
    let client = swiftmount::swift::SwiftClient::new(
        swiftmount::swift::Credentials::Token {
            storage_url: url::Url::parse("http://127.0.0.1:5000/v1/AUTH_x").unwrap(),
            token: swiftmount::swift::Secret::new("t"),
        },
        lab::region(None),
        swiftmount::swift::ClientConfig::default(),
        Default::default(),
    )
    .unwrap();
    let err = client.cluster_info().await.unwrap_err();
    assert!(
        matches!(err, SwiftError::NotFound(ref what) if what.contains("127.0.0.1:5000/info")),
        "{err:?}"
    );
}
