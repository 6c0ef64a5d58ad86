import {
  type AgentMessageInput,
  CLOSE_REASONS,
  parseServerMessage,
  type ServerMessage,
} from '@anneal/protocol';
import WebSocket from 'ws';

/** Where the connection is; every transition goes through `#setState`. */
export enum ConnectionState {
  Idle = 'idle',
  Connecting = 'connecting',
  /** Socket open, `hello` sent, waiting for `welcome`. */
  Handshaking = 'handshaking',
  Ready = 'ready',
  /** Waiting out a jittered backoff before the next dial. */
  Backoff = 'backoff',
  /** Stopped for good: manual disconnect, or a close code that says retrying cannot help. */
  Closed = 'closed',
}

export interface ConnectionOptions {
  url: string;
  token: string;
  /** Builds the hello at each dial (capacity changes). */
  hello: () => AgentMessageInput;
  /** Called for every valid server message once the connection is ready. */
  onMessage: (message: ServerMessage) => void;
  onStateChange?: (state: ConnectionState, detail: string) => void;
  log?: (line: string) => void;
  backoff?: { baseMs: number; maxMs: number };
  /** How long to wait for a heartbeat ack before the socket is declared dead. */
  ackTimeoutMs?: number;
  /** Builds each heartbeat; the state machine owns the timing. */
  heartbeat: (seq: number) => AgentMessageInput;
  random?: () => number;
}

/**
 * The agent's side of the WebSocket: dial, hello/welcome, heartbeats with acknowledgement,
 * and reconnects with full-jitter exponential backoff that resets once a connection is
 * welcomed. `disconnect()` sets the manual flag so nothing reconnects.
 */
export class AgentConnection {
  #state = ConnectionState.Idle;
  #ws: WebSocket | null = null;
  /** This side's address of the socket, from the HTTP upgrade. */
  #localAddress: string | null = null;
  #attempt = 0;
  #manual = false;
  #seq = 0;
  #heartbeatTimer: NodeJS.Timeout | null = null;
  #ackTimer: NodeJS.Timeout | null = null;
  #backoffTimer: NodeJS.Timeout | null = null;
  #closeDetail = '';

  constructor(private readonly options: ConnectionOptions) {}

  get state(): ConnectionState {
    return this.#state;
  }

  connect(): void {
    this.#manual = false;
    if (this.#state === ConnectionState.Idle || this.#state === ConnectionState.Closed)
      this.#dial();
  }

  disconnect(): void {
    this.#manual = true;
    this.#teardown();
    this.#setState(ConnectionState.Closed, 'disconnected');
  }

  /**
   * This side's IP address of the connection to the server (the last one while it is down;
   * an IPv4-mapped address as plain IPv4), or null before the first: where peers on the
   * server's network reach this host.
   */
  localAddress(): string | null {
    const address = this.#localAddress;
    if (!address) return null;
    return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  }

  /** Sends when ready; returns false otherwise (journaled messages are resent later). */
  send(message: AgentMessageInput): boolean {
    if (this.#state !== ConnectionState.Ready || !this.#ws) return false;
    this.#ws.send(JSON.stringify(message));
    return true;
  }

  #setState(state: ConnectionState, detail: string): void {
    if (state === this.#state) return;
    this.#state = state;
    this.options.onStateChange?.(state, detail);
  }

  #log(line: string): void {
    this.options.log?.(line);
  }

  #dial(): void {
    this.#setState(ConnectionState.Connecting, this.options.url);
    const url = `${this.options.url.replace(/^http/, 'ws').replace(/\/$/, '')}/agent`;
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${this.options.token}` } });
    this.#ws = ws;
    ws.on('upgrade', (res) => {
      this.#localAddress = res.socket.localAddress ?? this.#localAddress;
    });
    ws.on('open', () => {
      this.#setState(ConnectionState.Handshaking, 'hello');
      ws.send(JSON.stringify(this.options.hello()));
    });
    ws.on('message', (data) => this.#receive(String(data)));
    ws.on('unexpected-response', (_req, res) => {
      this.#closeDetail = `HTTP ${res.statusCode}`;
      // 401: the token is unknown or revoked; dialing again cannot help.
      if (res.statusCode === 401) this.#manual = true;
      ws.terminate();
    });
    ws.on('error', (err) => {
      this.#closeDetail ||= err.message;
    });
    ws.on('close', (code, reason) => this.#closed(ws, code, String(reason)));
  }

  #receive(raw: string): void {
    const parsed = parseServerMessage(raw);
    if (!parsed.ok) {
      this.#log(`ignored a malformed server message: ${parsed.error}`);
      return;
    }
    const message = parsed.message;
    if (message.type === 'welcome') {
      this.#attempt = 0;
      this.#setState(ConnectionState.Ready, `agent ${message.agentId}`);
      this.#startHeartbeats(message.heartbeatMs);
    } else if (message.type === 'heartbeat_ack') {
      if (this.#ackTimer) clearTimeout(this.#ackTimer);
      this.#ackTimer = null;
    }
    try {
      this.options.onMessage(message);
    } catch (err) {
      this.#log(`message handler failed: ${(err as Error).stack ?? err}`);
    }
  }

  #startHeartbeats(everyMs: number): void {
    if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
    const beat = () => {
      if (!this.send(this.options.heartbeat(this.#seq++))) return;
      if (this.#ackTimer) return;
      this.#ackTimer = setTimeout(
        () => {
          this.#log('no heartbeat ack in time; reconnecting');
          this.#ws?.terminate();
        },
        this.options.ackTimeoutMs ?? Math.max(2000, everyMs * 2),
      );
    };
    beat();
    this.#heartbeatTimer = setInterval(beat, everyMs);
  }

  #teardown(): void {
    if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
    if (this.#ackTimer) clearTimeout(this.#ackTimer);
    if (this.#backoffTimer) clearTimeout(this.#backoffTimer);
    this.#heartbeatTimer = this.#ackTimer = this.#backoffTimer = null;
    const ws = this.#ws;
    this.#ws = null;
    ws?.removeAllListeners('close');
    ws?.on('error', () => {});
    ws?.terminate();
  }

  #closed(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.#ws) return;
    this.#teardown();
    const known = CLOSE_REASONS[code];
    const detail =
      `${code}${reason ? ` ${reason}` : ''}${known ? ` (${known.message})` : ''} ${this.#closeDetail}`.trim();
    this.#closeDetail = '';
    if (this.#manual || (known && !known.reconnect)) {
      this.#setState(ConnectionState.Closed, detail);
      return;
    }
    const { baseMs, maxMs } = this.options.backoff ?? { baseMs: 500, maxMs: 30_000 };
    const cap = Math.min(maxMs, baseMs * 2 ** this.#attempt++);
    const delay = Math.floor((this.options.random ?? Math.random)() * cap);
    this.#setState(ConnectionState.Backoff, `${detail}; retrying in ${delay} ms`);
    this.#backoffTimer = setTimeout(() => this.#dial(), delay);
  }
}
