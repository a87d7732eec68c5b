//! The span the client opens for each operation. Alone in its own test binary: tracing caches
//! whether a call site is wanted process-wide, and tests running alongside without a
//! subscriber can leave it cached as unwanted while this one listens.

use salesloft_mock::{Config, Fault};
use salesloft_testkit::{fast_retries, sandbox_and_client};

/// The fields of every span the client opens, as they stood when it closed.
#[derive(Clone, Default)]
struct ClientSpans(std::sync::Arc<std::sync::Mutex<Vec<SpanFields>>>);

#[derive(Default)]
struct SpanFields(std::collections::BTreeMap<String, String>);

impl tracing::field::Visit for SpanFields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S> tracing_subscriber::Layer<S> for ClientSpans
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attributes: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        context: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if !attributes.metadata().target().starts_with("salesloft_api") {
            return;
        }
        let mut fields = SpanFields::default();
        attributes.record(&mut fields);
        if let Some(span) = context.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        context: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some(span) = context.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<SpanFields>()
        {
            values.record(fields);
        }
    }

    fn on_close(&self, id: tracing::span::Id, context: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = context.span(&id)
            && let Some(fields) = span.extensions_mut().remove::<SpanFields>()
        {
            self.0.lock().unwrap().push(fields);
        }
    }
}

#[tokio::test]
async fn each_operation_has_a_span_with_attempt_status_cost_and_budget_and_no_token() {
    use tracing_subscriber::layer::SubscriberExt;
    let spans = ClientSpans::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let (sandbox, client) = sandbox_and_client(
        Config {
            rate_limit_per_minute: 50,
            ..Config::default()
        },
        fast_retries(),
    )
    .await;
    sandbox.inject(Fault::Status { status: 503 }, 1).unwrap();
    client.get_me().send().await.expect("retried to success");
    client.get_person().id(1).send().await.expect("a person");

    let spans = std::mem::take(&mut *spans.0.lock().unwrap());
    let fields: Vec<_> = spans.iter().map(|s| &s.0).collect();
    assert_eq!(fields.len(), 2, "one span per operation: {fields:?}");
    let (me, person) = (fields[0], fields[1]);
    let expected = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    // The 503 cost nothing; the answers after it say what is left of the 50.
    assert_eq!(
        *me,
        expected(&[
            ("operation", "get_me"),
            ("method", "GET"),
            ("attempt", "2"),
            ("status", "200"),
            ("cost", "1"),
            ("remaining", "49"),
        ])
    );
    assert_eq!(person["operation"], "get_person");
    assert_eq!(person["attempt"], "1");
    assert_eq!(person["remaining"], "48");
    let key = sandbox.api_key();
    assert!(
        fields
            .iter()
            .all(|f| f.values().all(|v| !v.contains(key.as_str()))),
        "no span field holds the token"
    );
}
