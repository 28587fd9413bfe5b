//! The `--metrics-addr` endpoint: `GET /metrics` answers [`Metrics::text`], anything
//! else 404. HTTP/1 by hyper, which reqwest already brings along, on the mount's own
//! tokio runtime.

use super::Metrics;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

/// Listens on `addr`, and only there. Bound before mounting, so that an address in
/// use is one error line and not a mount without its metrics.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    // tokio takes it over in `serve`
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Answers scrapes until the process ends. Must run on a tokio runtime.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            log::error!("metrics endpoint: {e}; no metrics are served");
            return;
        }
    };
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // out of descriptors, mostly: accepting again at once would spin
                log::warn!("metrics endpoint: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let answer = answer(&req, &metrics);
                async move { Ok::<_, Infallible>(answer) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                log::debug!("metrics endpoint: {e}");
            }
        });
    }
}

fn answer(req: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            metrics.text(),
        ),
        (_, "/metrics") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "the metrics are at /metrics\n".to_string(),
        ),
    };
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("static status and header")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_the_text_at_metrics_only() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let metrics = Arc::new(Metrics::default());
        metrics.retried();
        let server = tokio::spawn(serve(listener, metrics));
        let http = reqwest::Client::new();
        let resp = http.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()[CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let text = resp.text().await.unwrap();
        assert!(text.contains("\nswiftmount_retries_total 1\n"), "{text}");
        let resp = http.get(format!("{base}/")).send().await.unwrap();
        assert_eq!(resp.status(), 404);
        let resp = http.post(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(resp.status(), 405);
        server.abort();
    }

    #[test]
    fn an_address_in_use_is_refused() {
        let taken = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let err = bind(taken.local_addr().unwrap()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    }
}
