//! Reading what `--metrics-addr` serves: a scrape of the Prometheus text, and sums of
//! its samples by name and labels.

#![allow(dead_code)]

/// A port on 127.0.0.1 that nothing listened on a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One scrape of the Prometheus text format.
#[derive(Debug)]
pub struct Scrape(pub String);

impl Scrape {
    /// `GET http://addr/metrics`, which must answer 200.
    pub async fn of(addr: &str) -> Scrape {
        let resp = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap_or_else(|e| panic!("scraping {addr}: {e}"));
        assert_eq!(resp.status(), 200, "scraping {addr}");
        Scrape(resp.text().await.unwrap())
    }

    /// The sum of the samples named `name` whose labels include all of `labels`;
    /// panics if there is no such sample.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut found = false;
        let mut sum = 0.0;
        for line in self.0.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let (series_name, series_labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let has = |(k, v): &(&str, &str)| {
                series_labels
                    .split(',')
                    .any(|kv| kv == format!("{k}=\"{v}\""))
            };
            if series_name == name && labels.iter().all(has) {
                found = true;
                sum += value.parse::<f64>().unwrap();
            }
        }
        assert!(found, "no sample {name} {labels:?} in:\n{}", self.0);
        sum
    }

    /// The one sample `name` without labels.
    pub fn get(&self, name: &str) -> f64 {
        self.sum(name, &[])
    }
}
