// The "HAPA" activity-bar view: hosts the leptos chat app (out/webview) under a strict CSP
// and answers its messages. The webview never talks to the network or sees the API key.
import * as crypto from 'crypto';
import * as vscode from 'vscode';
import { hapaCore, type ToWebview } from './core';

export class ChatViewProvider implements vscode.WebviewViewProvider {
    static readonly viewId = 'hapa.chat';

    constructor(
        private readonly extensionUri: vscode.Uri,
        private readonly log: vscode.LogOutputChannel,
    ) {}

    async resolveWebviewView(view: vscode.WebviewView): Promise<void> {
        const bundle = vscode.Uri.joinPath(this.extensionUri, 'out', 'webview');
        view.webview.options = { enableScripts: true, enableCommandUris: false, localResourceRoots: [bundle] };
        view.webview.onDidReceiveMessage((raw: unknown) => this.receive(view.webview, raw));
        // The app's .wasm travels inside the page, so the webview needs no connect-src at all.
        const wasm = await vscode.workspace.fs.readFile(vscode.Uri.joinPath(bundle, 'hapa_webview_bg.wasm'));
        view.webview.html = this.html(view.webview, bundle, Buffer.from(wasm).toString('base64'));
    }

    private receive(webview: vscode.Webview, raw: unknown): void {
        let message;
        try {
            message = hapaCore().parseWebviewMessage(raw);
        } catch (error) {
            this.log.warn(`ignored a message from the chat view: ${error instanceof Error ? error.message : error}`);
            return;
        }
        switch (message.type) {
            case 'ready':
                this.log.info(`chat view ready (protocol ${message.protocol})`);
                break;
            case 'ask':
                this.post(webview, {
                    type: 'notice',
                    text: 'HAPA cannot answer in the chat yet. Meanwhile, "HAPA: Validate Python File" checks your file.',
                });
                break;
        }
    }

    private post(webview: vscode.Webview, message: ToWebview): void {
        void webview.postMessage(message);
    }

    private html(webview: vscode.Webview, bundle: vscode.Uri, wasmBase64: string): string {
        const nonce = crypto.randomBytes(18).toString('base64');
        const script = webview.asWebviewUri(vscode.Uri.joinPath(bundle, 'hapa_webview.js'));
        const style = webview.asWebviewUri(vscode.Uri.joinPath(bundle, 'style.css'));
        // No connect-src: the webview may not make a single request (model output cannot
        // exfiltrate anything), and the app's wasm comes as a data block in this page.
        const csp = [
            "default-src 'none'",
            `script-src 'nonce-${nonce}' 'wasm-unsafe-eval'`,
            `style-src ${webview.cspSource}`,
            `img-src ${webview.cspSource} data:`,
            `font-src ${webview.cspSource}`,
            "connect-src 'none'",
        ].join('; ');
        return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}">
<title>HAPA</title>
</head>
<body>
<script id="hapa-webview-wasm" type="application/octet-stream">${wasmBase64}</script>
<script type="module" nonce="${nonce}">
import init from "${script}";
const encoded = document.getElementById("hapa-webview-wasm").textContent;
init({ module_or_path: Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0)) });
</script>
</body>
</html>`;
    }
}
