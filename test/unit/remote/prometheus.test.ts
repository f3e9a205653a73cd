import { strict as assert } from 'node:assert';
import { counterRate, metricValue, parsePrometheus } from '../../../src/backends/remote/prometheus';

/** A llama-server /metrics answer as this build writes it (abridged). */
const LLAMA = `# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed, excluding cached tokens
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 31
# HELP llamacpp:tokens_predicted_total Number of generation tokens processed
# TYPE llamacpp:tokens_predicted_total counter
llamacpp:tokens_predicted_total 5
# TYPE llamacpp:predicted_tokens_seconds gauge
llamacpp:predicted_tokens_seconds 5134.79
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing 2
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 1
`;

/** vLLM style: labels, a histogram, scientific notation, a timestamp. */
const VLLM = `# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="coder"} 3.0
vllm:num_requests_running{model_name="chat"} 1.0
vllm:num_requests_waiting{model_name="coder",engine="0"} 2.0 1700000000000
vllm:generation_tokens_total{model_name="coder"} 1.5e3
vllm:e2e_request_latency_seconds_bucket{le="+Inf",model_name="coder"} 7
weird{a="x\\"y\\\\z\\n"} NaN
`;

describe('parsePrometheus', () => {
    it('reads llama-server metrics: names with colons, types, values', () => {
        const m = parsePrometheus(LLAMA);
        assert.equal(m.skipped, 0);
        assert.equal(metricValue(m, 'llamacpp:requests_processing'), 2);
        assert.equal(metricValue(m, 'llamacpp:requests_deferred'), 1);
        assert.equal(metricValue(m, 'llamacpp:predicted_tokens_seconds'), 5134.79);
        assert.equal(m.types.get('llamacpp:tokens_predicted_total'), 'counter');
        assert.equal(m.types.get('llamacpp:requests_processing'), 'gauge');
        assert.equal(metricValue(m, 'llamacpp:absent'), undefined);
    });

    it('reads labels (escapes included), timestamps and exponents; sums or filters series by label', () => {
        const m = parsePrometheus(VLLM);
        assert.equal(m.skipped, 0);
        assert.equal(metricValue(m, 'vllm:num_requests_running'), 4);
        assert.equal(metricValue(m, 'vllm:num_requests_running', { model_name: 'coder' }), 3);
        assert.equal(metricValue(m, 'vllm:num_requests_waiting', { model_name: 'coder' }), 2);
        assert.equal(metricValue(m, 'vllm:generation_tokens_total'), 1500);
        const bucket = m.samples.find((s) => s.name === 'vllm:e2e_request_latency_seconds_bucket');
        assert.deepEqual(bucket?.labels, { le: '+Inf', model_name: 'coder' });
        const weird = m.samples.find((s) => s.name === 'weird');
        assert.equal(weird?.labels.a, 'x"y\\z\n');
        assert.ok(Number.isNaN(weird?.value));
    });

    it('skips lines it cannot read and keeps the rest', () => {
        const m = parsePrometheus('good 1\n{no_name} 2\nbad{a="open 3\nnovalue\nnum abc\nalso_good{x="1"} -2.5\n');
        assert.equal(m.skipped, 4);
        assert.deepEqual(
            m.samples.map((s) => [s.name, s.value]),
            [
                ['good', 1],
                ['also_good', -2.5],
            ],
        );
    });
});

describe('counterRate', () => {
    it('is the counter increase per second between two readings', () => {
        assert.equal(counterRate({ value: 100, atMs: 1_000 }, { value: 150, atMs: 1_500 }), 100);
    });

    it('is undefined without a previous reading, without elapsed time, or after a restart reset the counter', () => {
        assert.equal(counterRate(undefined, { value: 1, atMs: 1 }), undefined);
        assert.equal(counterRate({ value: 1, atMs: 5 }, { value: 2, atMs: 5 }), undefined);
        assert.equal(counterRate({ value: 50, atMs: 0 }, { value: 3, atMs: 1_000 }), undefined);
    });
});
