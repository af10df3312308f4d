/*
 * metrics: the Prometheus text exposition at /metrics — the counters in
 * struct server, the store's statistics and the decisions by verdict and
 * reason, which this file counts itself (metrics_count_decision).
 *
 * metrics_count_decision runs on any worker thread: one relaxed atomic add,
 * never a lock or an allocation. pages_metrics runs on the loop thread and
 * never blocks (store_stats copies under a mutex).
 */
#include "proxy.h"

/* Decisions by verdict and reason: one counter per pair, named when /metrics is written. */
static uint64_t decisions[VERDICT_COUNT][REASON_COUNT];

void metrics_count_decision(enum verdict verdict, enum reason reason)
{
	if (verdict == VERDICT_NONE || (unsigned)verdict >= VERDICT_COUNT || (unsigned)reason >= REASON_COUNT)
		return;
	__atomic_add_fetch(&decisions[verdict][reason], 1, __ATOMIC_RELAXED);
}

void pages_metrics(struct evbuffer *out, bool keep_alive, bool head_only)
{
	struct evbuffer *b = evbuffer_new();
	struct store_stats st;

#define LOAD(x) ((unsigned long long)__atomic_load_n(&(x), __ATOMIC_RELAXED))
	evbuffer_add_printf(b, "# HELP breaktime_connections Open client connections.\n"
			    "# TYPE breaktime_connections gauge\nbreaktime_connections %llu\n",
			    LOAD(server.connections));
	evbuffer_add_printf(b, "# HELP breaktime_accepted_total Client connections accepted.\n"
			    "# TYPE breaktime_accepted_total counter\nbreaktime_accepted_total %llu\n",
			    LOAD(server.accepted));
	evbuffer_add_printf(b, "# HELP breaktime_requests_total Request heads received.\n"
			    "# TYPE breaktime_requests_total counter\nbreaktime_requests_total %llu\n",
			    LOAD(server.requests));
	evbuffer_add_printf(b, "# HELP breaktime_records_total Completed exchanges by kind.\n"
			    "# TYPE breaktime_records_total counter\n"
			    "breaktime_records_total{kind=\"request\"} %llu\n"
			    "breaktime_records_total{kind=\"tunnel\"} %llu\n"
			    "breaktime_records_total{kind=\"blocked\"} %llu\n",
			    LOAD(server.records_request), LOAD(server.records_tunnel),
			    LOAD(server.records_blocked));
	evbuffer_add_printf(b, "# HELP breaktime_responses_total Responses to clients by status class.\n"
			    "# TYPE breaktime_responses_total counter\n");
	for (int i = 1; i <= 5; i++)
		evbuffer_add_printf(b, "breaktime_responses_total{class=\"%dxx\"} %llu\n", i,
				    LOAD(server.status_class[i]));
	evbuffer_add_printf(b, "# HELP breaktime_bytes_total Bytes relayed.\n"
			    "# TYPE breaktime_bytes_total counter\n"
			    "breaktime_bytes_total{direction=\"up\"} %llu\n"
			    "breaktime_bytes_total{direction=\"down\"} %llu\n",
			    LOAD(server.bytes_up), LOAD(server.bytes_down));
	evbuffer_add_printf(b, "# HELP breaktime_tls_pages_total Block pages and warn interstitials "
			    "shown over terminated TLS (block_ca), by verdict.\n"
			    "# TYPE breaktime_tls_pages_total counter\n"
			    "breaktime_tls_pages_total{verdict=\"block\"} %llu\n"
			    "breaktime_tls_pages_total{verdict=\"warn\"} %llu\n"
			    "# HELP breaktime_tls_continues_total Continue links followed on terminated TLS.\n"
			    "# TYPE breaktime_tls_continues_total counter\n"
			    "breaktime_tls_continues_total %llu\n"
			    "# HELP breaktime_tls_terminations_total Denied or warned flows whose TLS was "
			    "terminated, by outcome.\n"
			    "# TYPE breaktime_tls_terminations_total counter\n"
			    "breaktime_tls_terminations_total{outcome=\"handshake\"} %llu\n"
			    "breaktime_tls_terminations_total{outcome=\"failed\"} %llu\n"
			    "# HELP breaktime_tls_leaves_minted_total Leaf certificates minted by the block CA.\n"
			    "# TYPE breaktime_tls_leaves_minted_total counter\n"
			    "breaktime_tls_leaves_minted_total %llu\n",
			    LOAD(server.bump_pages[VERDICT_BLOCK]), LOAD(server.bump_pages[VERDICT_WARN]),
			    LOAD(server.bump_continues), LOAD(server.bump_handshakes),
			    LOAD(server.bump_failed), LOAD(server.bump_minted));
	store_stats(server.store, &st);
	evbuffer_add_printf(b, "# HELP breaktime_store_records_total Records handed to the store.\n"
			    "# TYPE breaktime_store_records_total counter\n"
			    "breaktime_store_records_total{state=\"submitted\"} %llu\n"
			    "breaktime_store_records_total{state=\"written\"} %llu\n"
			    "breaktime_store_records_total{state=\"dropped\"} %llu\n"
			    "breaktime_store_records_total{state=\"lost\"} %llu\n",
			    (unsigned long long)st.submitted, (unsigned long long)st.written,
			    (unsigned long long)st.dropped, (unsigned long long)st.lost);
	evbuffer_add_printf(b, "# HELP breaktime_store_records_aggregated_total Refusals without identity "
			    "(407, 429, allow_clients) counted into one row per client, reason and minute.\n"
			    "# TYPE breaktime_store_records_aggregated_total counter\n"
			    "breaktime_store_records_aggregated_total %llu\n"
			    "# HELP breaktime_store_aggregate_rows_total Store rows written for them.\n"
			    "# TYPE breaktime_store_aggregate_rows_total counter\n"
			    "breaktime_store_aggregate_rows_total %llu\n",
			    (unsigned long long)st.aggregated, (unsigned long long)st.aggregate_rows);
	evbuffer_add_printf(b, "# HELP breaktime_decisions_total Requests and tunnels by verdict and reason.\n"
			    "# TYPE breaktime_decisions_total counter\n");
	/* only pairs that happened; a decision without a reason is "-" */
	for (unsigned v = VERDICT_NONE + 1; v < VERDICT_COUNT; v++)
		for (unsigned r = 0; r < REASON_COUNT; r++) {
			unsigned long long n = LOAD(decisions[v][r]);
			const char *rn = verdict_reason_name((enum reason)r);
			if (n)
				evbuffer_add_printf(b, "breaktime_decisions_total{verdict=\"%s\",reason=\"%s\"} %llu\n",
						    verdict_name((enum verdict)v), rn ? rn : "-", n);
		}
	evbuffer_add_printf(b, "# HELP breaktime_store_queue_depth Records waiting for the store's writer.\n"
			    "# TYPE breaktime_store_queue_depth gauge\nbreaktime_store_queue_depth %llu\n"
			    "# HELP breaktime_store_queue_capacity Records the queue holds.\n"
			    "# TYPE breaktime_store_queue_capacity gauge\nbreaktime_store_queue_capacity %llu\n"
			    "# HELP breaktime_store_retries_total Store transactions retried (locked, full, I/O).\n"
			    "# TYPE breaktime_store_retries_total counter\nbreaktime_store_retries_total %llu\n",
			    (unsigned long long)st.queued, (unsigned long long)st.queue_capacity,
			    (unsigned long long)st.retries);
	evbuffer_add_printf(b, "# HELP breaktime_store_held Records the writer has taken and not yet committed.\n"
			    "# TYPE breaktime_store_held gauge\nbreaktime_store_held %llu\n"
			    "# HELP breaktime_store_transactions_total Store batches committed.\n"
			    "# TYPE breaktime_store_transactions_total counter\n"
			    "breaktime_store_transactions_total %llu\n"
			    "# HELP breaktime_store_errors_total Failed store transactions by cause (of the retries).\n"
			    "# TYPE breaktime_store_errors_total counter\n"
			    "breaktime_store_errors_total{cause=\"locked\"} %llu\n"
			    "breaktime_store_errors_total{cause=\"full\"} %llu\n"
			    "# HELP breaktime_store_failing 1 while the last store transaction failed and is retried.\n"
			    "# TYPE breaktime_store_failing gauge\nbreaktime_store_failing %d\n"
			    "# HELP breaktime_store_purged_total Rows removed by retention.\n"
			    "# TYPE breaktime_store_purged_total counter\nbreaktime_store_purged_total %llu\n"
			    "# HELP breaktime_store_access_log_lines_total Lines written to access.log.\n"
			    "# TYPE breaktime_store_access_log_lines_total counter\n"
			    "breaktime_store_access_log_lines_total %llu\n"
			    "# HELP breaktime_store_writer_cpu_seconds_total CPU time of the store's writer thread.\n"
			    "# TYPE breaktime_store_writer_cpu_seconds_total counter\n"
			    "breaktime_store_writer_cpu_seconds_total %llu.%03llu\n",
			    (unsigned long long)st.held, (unsigned long long)st.transactions,
			    (unsigned long long)st.busy_errors, (unsigned long long)st.full_errors,
			    st.failing ? 1 : 0, (unsigned long long)st.purged,
			    (unsigned long long)st.access_log_lines,
			    (unsigned long long)(st.writer_cpu_ms / 1000),
			    (unsigned long long)(st.writer_cpu_ms % 1000));
	evbuffer_add_printf(b, "# HELP breaktime_auth_failures_total Failed proxy sign-ins.\n"
			    "# TYPE breaktime_auth_failures_total counter\nbreaktime_auth_failures_total %llu\n",
			    LOAD(server.auth_failures));
	evbuffer_add_printf(b, "# HELP breaktime_reloads_total Configuration reloads.\n"
			    "# TYPE breaktime_reloads_total counter\n"
			    "breaktime_reloads_total{result=\"ok\"} %llu\n"
			    "breaktime_reloads_total{result=\"refused\"} %llu\n",
			    LOAD(server.reloads), LOAD(server.reload_failures));
#undef LOAD
	evbuffer_add_printf(out,
			    "HTTP/1.1 200 OK\r\n"
			    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
			    "Content-Length: %zu\r\n"
			    "Cache-Control: no-store\r\n"
			    "Connection: %s\r\n\r\n",
			    evbuffer_get_length(b), keep_alive ? "keep-alive" : "close");
	if (!head_only)
		evbuffer_add_buffer(out, b);
	evbuffer_free(b);
}
