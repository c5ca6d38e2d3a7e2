//! `track!` on the handler's path: time per call (criterion; the target is a median of at most
//! 2 µs), heap allocations per call (a counting global allocator), and SQS requests per 1,000
//! events (counted from the client's own per-request log line, against moto when
//! `AWS_ENDPOINT_URL` is set).
//!
//! The global publisher holds events until a flush, as under `kx_events::run`, so the timed loop
//! never touches the network: between timed chunks (untimed), a flush drains the queue to an
//! endpoint that refuses connections at once, with one attempt per event.
//!
//! Figures other than criterion's are printed as `kx-bench: <label>: <value>` lines, which
//! `make bench` collects.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use criterion::Criterion;
use kx_events::{track, Config, ExplicitContext, Publisher, TrackedEvent};
use serde_json::{json, Value};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Counts every allocation (alloc, alloc_zeroed, realloc) of the process.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Events per timed chunk; the queue is drained (untimed) between chunks.
const CHUNK: u64 = 1_000;

/// Counts the client's `SendMessageBatch` requests from its "sending" debug line.
struct RequestCounter(Arc<Mutex<u64>>);

impl<S: tracing::Subscriber> Layer<S> for RequestCounter {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        metadata.target() == "kx_events" && *metadata.level() == tracing::Level::DEBUG
    }
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        struct IsSqsSend(bool);
        impl tracing::field::Visit for IsSqsSend {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "operation" && value == "SendMessageBatch" {
                    self.0 = true;
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut v = IsSqsSend(false);
        event.record(&mut v);
        if v.0 {
            *self.0.lock().unwrap() += 1;
        }
    }
}

fn api_gateway_request() -> ApiGatewayProxyRequest {
    let mut v: Value =
        serde_json::from_str(include_str!("../tests/fixtures/apigw_v1_request.json")).unwrap();
    v["headers"]["X-Client-Id"] = json!("client_123");
    v["multiValueHeaders"]["X-Client-Id"] = json!(["client_123"]);
    v["body"] = json!(r#"{"name":"John Doe","email":"john@example.com"}"#);
    serde_json::from_value(v).unwrap()
}

/// Times `CHUNK`-sized runs of `f` and flushes (untimed) after each.
fn timed(rt: &tokio::runtime::Runtime, iters: u64, mut f: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        total += start.elapsed();
        left -= n;
        rt.block_on(kx_events::flush());
    }
    total
}

fn allocations_per_call(rt: &tokio::runtime::Runtime, mut f: impl FnMut()) -> f64 {
    const N: u64 = 10_000;
    rt.block_on(kx_events::flush());
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..N {
        f();
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    rt.block_on(kx_events::flush());
    (after - before) as f64 / N as f64
}

/// SQS requests for 1,000 events against moto, held until one flush (as under `run`) and sent as
/// they come (a program that never flushes until the end).
fn sqs_requests_per_1000(rt: &tokio::runtime::Runtime, counter: &Arc<Mutex<u64>>) {
    let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") else {
        println!("kx-bench: SQS requests per 1,000 events: not measured (AWS_ENDPOINT_URL is not set; run `make bench`)");
        return;
    };
    let queue_url = rt.block_on(async {
        let sdk = kx_events::aws::config_loader()
            .endpoint_url(&endpoint)
            .load()
            .await;
        aws_sdk_sqs::Client::new(&sdk)
            .create_queue()
            .queue_name(format!("bench-{}", uuid::Uuid::new_v4().simple()))
            .send()
            .await
            .expect("CreateQueue on moto")
            .queue_url()
            .unwrap()
            .to_string()
    });
    for (label, hold) in [
        ("held until flush, as under run()", true),
        ("sent as tracked", false),
    ] {
        let publisher = Publisher::new(
            Config::from_env()
                .with_queue_url(&queue_url)
                .with_endpoint_url(&endpoint)
                .with_event_bus_name(None),
        );
        if hold {
            publisher.hold_until_flush();
        }
        *counter.lock().unwrap() = 0;
        for _ in 0..1_000 {
            publisher.publish(TrackedEvent::new("client_123", "order", "order_created"));
        }
        rt.block_on(publisher.flush());
        println!(
            "kx-bench: SQS requests per 1,000 events ({label}): {}",
            counter.lock().unwrap()
        );
    }
}

fn main() {
    // The timed publisher sends nowhere: an endpoint that refuses connections, static
    // credentials so the SDK never looks for others.
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_REGION", "us-east-1"),
    ] {
        if std::env::var_os(k).is_none() {
            std::env::set_var(k, v);
        }
    }
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let counter = Arc::new(Mutex::new(0u64));
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(RequestCounter(counter.clone())),
    )
    .expect("one subscriber");

    kx_events::init(
        Config::default()
            .with_queue_url("http://127.0.0.1:1/000000000000/bench")
            .with_endpoint_url("http://127.0.0.1:1")
            .with_max_attempts(1)
            .with_queue_capacity(2 * CHUNK as usize),
    )
    .unwrap();
    kx_events::global().hold_until_flush();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let explicit = ExplicitContext::new("client_123");
    let request = api_gateway_request();
    let metadata = json!({ "amount": 99.99, "currency": "USD" });

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("track");
    group.bench_function("enqueue", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, || {
                black_box(track!(black_box(&explicit), "order", "order_created"));
            })
        })
    });
    group.bench_function("api_gateway_request", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, || {
                black_box(track!(black_box(&request), "order", "order_created"));
            })
        })
    });
    group.bench_function("with_extras", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, || {
                black_box(track!(
                    black_box(&request),
                    "order",
                    "order_created",
                    user_id = "user_789",
                    entity_id = "order_42",
                    source = "api",
                    points_awarded = 100,
                    metadata = metadata.clone(),
                ));
            })
        })
    });
    group.finish();
    c.final_summary();

    let a = allocations_per_call(&rt, || {
        black_box(track!(black_box(&explicit), "order", "order_created"));
    });
    println!("kx-bench: allocations per track! call (explicit context): {a:.1}");
    let a = allocations_per_call(&rt, || {
        black_box(track!(black_box(&request), "order", "order_created"));
    });
    println!("kx-bench: allocations per track! call (API Gateway request): {a:.1}");
    sqs_requests_per_1000(&rt, &counter);
}
