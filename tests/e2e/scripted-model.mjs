//! A scripted OpenAI-compatible model server on loopback, for the answers no real model can be
//! relied on to write: hostile markdown, a slow endless stream. hapa-server's `openai` provider
//! talks to it exactly as it would to vLLM or Ollama (streamed `/v1/chat/completions`). It also
//! logs every request it gets, so a test can tell whether anything (an image in an answer, a
//! clicked link) reached it.

import http from 'node:http';

/**
 * Starts the server. `answer(question)` returns `{ text, chunkChars = 24, delayMs = 0 }`: the
 * text is streamed in chunks of `chunkChars` characters, `delayMs` apart. `complete(prompt)`
 * returns the text of a `/v1/completions` answer, or `{ status }` to fail it with that status.
 * @returns {Promise<{ url: string, requests: Array<{ method: string, path: string }>, completions: Array<{ prompt: string, suffix?: string, status: number }>, streams: Array<{ question: string, sent: number, closedEarly: boolean }>, close(): Promise<void> }>}
 */
export async function startScriptedModel(answer, complete = () => '') {
    const requests = [];
    const streams = [];
    /** The fill-in-the-middle requests: `{ prompt, suffix }` as hapa-server sent them. */
    const completions = [];
    const server = http.createServer(async (request, response) => {
        requests.push({ method: request.method, path: request.url });
        if (request.method === 'POST' && request.url === '/v1/completions') {
            let body = '';
            for await (const chunk of request) body += chunk;
            const { prompt, suffix } = JSON.parse(body);
            const answer = complete(prompt);
            completions.push({ prompt, suffix, status: answer.status ?? 200 });
            if (answer.status) {
                response.writeHead(answer.status, { 'content-type': 'application/json' });
                response.end(JSON.stringify({ error: { message: 'scripted failure', type: 'server_error' } }));
                return;
            }
            response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
            response.write(`data: ${JSON.stringify({ choices: [{ index: 0, text: answer, finish_reason: null }] })}\n\n`);
            response.write(`data: ${JSON.stringify({ choices: [{ index: 0, text: '', finish_reason: 'stop' }] })}\n\n`);
            response.end('data: [DONE]\n\n');
            return;
        }
        if (request.method !== 'POST' || request.url !== '/v1/chat/completions') {
            response.writeHead(request.url === '/docs' ? 200 : 404, { 'content-type': 'text/plain' });
            response.end(request.url === '/docs' ? 'the docs' : 'not found');
            return;
        }
        let body = '';
        for await (const chunk of request) body += chunk;
        const messages = JSON.parse(body).messages ?? [];
        const question = String(messages.at(-1)?.content ?? '');
        const { text, chunkChars = 24, delayMs = 0 } = answer(question);
        const stream = { question, sent: 0, closedEarly: false };
        streams.push(stream);
        response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        let finished = false;
        response.on('close', () => {
            if (!finished) stream.closedEarly = true;
        });
        const send = (data) => response.write(`data: ${JSON.stringify(data)}\n\n`);
        for (let at = 0; at < text.length && !stream.closedEarly; at += chunkChars) {
            send({ choices: [{ index: 0, delta: { content: text.slice(at, at + chunkChars) }, finish_reason: null }] });
            stream.sent += 1;
            if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
        }
        if (stream.closedEarly) return;
        send({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
        response.end('data: [DONE]\n\n');
        finished = true;
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address();
    return {
        url: `http://127.0.0.1:${port}`,
        requests,
        streams,
        completions,
        close: () => new Promise((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
        }),
    };
}
