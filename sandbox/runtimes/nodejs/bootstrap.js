'use strict';
// lambdalet's Node.js runtime. The sandbox execs `node /var/runtime/bootstrap.js` as the
// function's unprivileged user, with lambdalet's msgpack Runtime API socket on fd 3 (the
// frames of sandbox/protocol.py: 4-byte big-endian length, then a msgpack array).
//
// It loads `file.export` from /var/task (CommonJS or ES module), then serves invocations
// one at a time. Reads are blocking: between invocations the process waits in read(2), as
// a Lambda environment is frozen between invocations; pending timers run during the next.
// Console output goes to stdout (the function's log) as `time\trequestId\tLEVEL\tmessage`,
// or as JSON objects with LoggingConfig LogFormat JSON (see "logging" below).

const fs = require('fs');
const path = require('path');
const util = require('util');

const FD = 3;
const TASK_ROOT = process.env.LAMBDA_TASK_ROOT || '/var/task';
const MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100; // AWS's limit on a function's response
const TAG = { READY: 1, INIT_ERROR: 2, INVOKE: 3, RESPONSE: 4, FUNCTION_ERROR: 5 };

// --- msgpack, the subset the protocol uses ------------------------------------------------

function header(parts, len, small, smallMax, codes) {
  if (small !== null && len <= smallMax) {
    parts.push(Buffer.from([small | len]));
  } else if (len < 0x100 && codes[0] !== null) {
    parts.push(Buffer.from([codes[0], len]));
  } else if (len < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = codes[1];
    b.writeUInt16BE(len, 1);
    parts.push(b);
  } else {
    const b = Buffer.alloc(5);
    b[0] = codes[2];
    b.writeUInt32BE(len, 1);
    parts.push(b);
  }
}

function encode(value, parts) {
  if (value === null || value === undefined) {
    parts.push(Buffer.from([0xc0]));
  } else if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > 0x7f) {
      throw new TypeError('only small non-negative integers are encoded');
    }
    parts.push(Buffer.from([value]));
  } else if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    header(parts, bytes.length, 0xa0, 31, [0xd9, 0xda, 0xdb]);
    parts.push(bytes);
  } else if (Buffer.isBuffer(value)) {
    header(parts, value.length, null, -1, [0xc4, 0xc5, 0xc6]);
    parts.push(value);
  } else if (Array.isArray(value)) {
    header(parts, value.length, 0x90, 15, [null, 0xdc, 0xdd]);
    for (const item of value) encode(item, parts);
  } else {
    throw new TypeError(`cannot encode ${typeof value}`);
  }
}

function decode(buf, pos) {
  const b = buf[pos];
  const at = pos + 1;
  if (b <= 0x7f) return [b, at];
  if (b >= 0xe0) return [b - 0x100, at];
  if ((b & 0xf0) === 0x90) return decodeArray(buf, at, b & 0x0f);
  if ((b & 0xe0) === 0xa0) return decodeStr(buf, at, b & 0x1f);
  switch (b) {
    case 0xc0: return [null, at];
    case 0xc2: return [false, at];
    case 0xc3: return [true, at];
    case 0xc4: return decodeBin(buf, at + 1, buf.readUInt8(at));
    case 0xc5: return decodeBin(buf, at + 2, buf.readUInt16BE(at));
    case 0xc6: return decodeBin(buf, at + 4, buf.readUInt32BE(at));
    case 0xcc: return [buf.readUInt8(at), at + 1];
    case 0xcd: return [buf.readUInt16BE(at), at + 2];
    case 0xce: return [buf.readUInt32BE(at), at + 4];
    case 0xcf: return [Number(buf.readBigUInt64BE(at)), at + 8];
    case 0xd0: return [buf.readInt8(at), at + 1];
    case 0xd1: return [buf.readInt16BE(at), at + 2];
    case 0xd2: return [buf.readInt32BE(at), at + 4];
    case 0xd3: return [Number(buf.readBigInt64BE(at)), at + 8];
    case 0xd9: return decodeStr(buf, at + 1, buf.readUInt8(at));
    case 0xda: return decodeStr(buf, at + 2, buf.readUInt16BE(at));
    case 0xdb: return decodeStr(buf, at + 4, buf.readUInt32BE(at));
    case 0xdc: return decodeArray(buf, at + 2, buf.readUInt16BE(at));
    case 0xdd: return decodeArray(buf, at + 4, buf.readUInt32BE(at));
    default: throw new TypeError(`unsupported msgpack type 0x${b.toString(16)}`);
  }
}

function decodeStr(buf, pos, len) {
  return [buf.toString('utf8', pos, pos + len), pos + len];
}

function decodeBin(buf, pos, len) {
  return [buf.subarray(pos, pos + len), pos + len];
}

function decodeArray(buf, pos, len) {
  const out = [];
  for (let i = 0; i < len; i++) {
    const [item, next] = decode(buf, pos);
    out.push(item);
    pos = next;
  }
  return [out, pos];
}

// --- the socket ---------------------------------------------------------------------------

function send(message) {
  const parts = [];
  encode(message, parts);
  const body = Buffer.concat(parts);
  const frame = Buffer.alloc(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  let off = 0;
  while (off < frame.length) {
    try {
      off += fs.writeSync(FD, frame, off, frame.length - off);
    } catch (err) {
      if (err.code !== 'EAGAIN' && err.code !== 'EINTR') throw err;
    }
  }
}

function readExactly(n) {
  const buf = Buffer.allocUnsafe(n);
  let off = 0;
  while (off < n) {
    let got;
    try {
      got = fs.readSync(FD, buf, off, n - off, null);
    } catch (err) {
      if (err.code === 'EAGAIN' || err.code === 'EINTR') continue;
      throw err;
    }
    if (got === 0) process.exit(0); // the daemon let this environment go
    off += got;
  }
  return buf;
}

function receive() {
  const size = readExactly(4).readUInt32BE(0);
  const [message] = decode(readExactly(size), 0);
  return message;
}

// --- logging ------------------------------------------------------------------------------
// Text: `time\trequestId\tLEVEL\tmessage`. With LoggingConfig LogFormat JSON
// (AWS_LAMBDA_LOG_FORMAT), one JSON object a line, as Lambda's Node.js runtime writes them:
// {timestamp, level, requestId, message}; a lone argument is kept as it is (an Error as
// {errorType, errorMessage, stackTrace}), several are formatted into one message with the
// first Error's fields beside it. console.* below AWS_LAMBDA_LOG_LEVEL write nothing.

let currentRequestId;

const LEVELS = { TRACE: 1, DEBUG: 2, INFO: 3, WARN: 4, ERROR: 5, FATAL: 6 };
const JSON_FORMAT = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
const MIN_LEVEL = LEVELS[(process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] || LEVELS.TRACE;

function writeOut(text) {
  try {
    fs.writeSync(1, text);
  } catch (err) {
    // the log pipe is gone: nothing left to tell
  }
}

function errorFields(err) {
  return {
    errorType: (err.constructor && err.constructor.name) || 'UnknownError',
    errorMessage: err.message,
    stackTrace: typeof err.stack === 'string' ? err.stack.split('\n') : [],
  };
}

function jsonLine(level, args) {
  const doc = { timestamp: new Date().toISOString(), level, requestId: currentRequestId };
  if (args.length === 1) {
    doc.message = args[0];
    try {
      return JSON.stringify(doc, (_, value) =>
        value instanceof Error ? { ...errorFields(value), ...value } : value);
    } catch (err) {
      doc.message = util.format(args[0]); // a cycle, a BigInt: its printed form instead
      return JSON.stringify(doc);
    }
  }
  doc.message = util.format(...args);
  const err = args.find((arg) => arg instanceof Error);
  return JSON.stringify(err === undefined ? doc : { ...doc, ...errorFields(err) });
}

function logLine(level, args) {
  if (LEVELS[level] < MIN_LEVEL) return;
  if (JSON_FORMAT) {
    writeOut(jsonLine(level, args) + '\n');
    return;
  }
  const message = util.format(...args);
  writeOut(`${new Date().toISOString()}\t${currentRequestId}\t${level}\t${message}\n`);
}

// The runtime's own record of a failed invoke or init: a line in the function's format.
function logFailure(label, doc, err) {
  if (JSON_FORMAT) {
    const { errorType, errorMessage, trace } = doc;
    logLine('ERROR', [err instanceof Error ? err : { errorType, errorMessage, stackTrace: trace }]);
  } else {
    logLine('ERROR', [`${label} \t${JSON.stringify(doc)}`]);
  }
}

console.log = (...args) => logLine('INFO', args);
console.info = (...args) => logLine('INFO', args);
console.warn = (...args) => logLine('WARN', args);
console.error = (...args) => logLine('ERROR', args);
console.debug = (...args) => logLine('DEBUG', args);
console.fatal = (...args) => logLine('FATAL', args);
console.trace = JSON_FORMAT
  ? (...args) => logLine('TRACE', args)
  : (...args) => logLine('TRACE', [util.format(...args), new Error().stack]);

// --- errors -------------------------------------------------------------------------------

function errorDocument(err, errorType) {
  if (err instanceof Error) {
    return {
      errorType: errorType || err.name || 'Error',
      errorMessage: err.message,
      trace: String(err.stack || '').split('\n'),
    };
  }
  return {
    errorType: errorType || typeof err,
    errorMessage: typeof err === 'string' ? err : util.inspect(err),
    trace: [],
  };
}

function errorFrame(tag, requestId, doc) {
  const body = Buffer.from(JSON.stringify(doc), 'utf8');
  const info = [doc.errorType, doc.errorMessage, doc.trace];
  return tag === TAG.INIT_ERROR
    ? [tag, ...info, body]
    : [tag, requestId, ...info, body];
}

class RuntimeError extends Error {
  constructor(errorType, message) {
    super(message);
    this.errorType = errorType;
  }
}

// --- loading the handler ------------------------------------------------------------------

function splitHandler(handler) {
  const slash = handler.lastIndexOf('/');
  const dot = handler.indexOf('.', slash + 1);
  if (dot <= slash + 1 || dot === handler.length - 1) {
    throw new RuntimeError('Runtime.MalformedHandlerName', `Bad handler ${handler}`);
  }
  return [handler.slice(0, dot), handler.slice(dot + 1)];
}

function isModuleType(file) {
  let dir = path.dirname(file);
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        return JSON.parse(fs.readFileSync(pkg, 'utf8')).type === 'module';
      } catch (err) {
        return false;
      }
    }
    if (dir === TASK_ROOT || dir === path.dirname(dir)) return false;
    dir = path.dirname(dir);
  }
}

async function importFile(file) {
  const { pathToFileURL } = require('url');
  return import(pathToFileURL(file).href);
}

async function loadModule(modulePath) {
  const base = path.resolve(TASK_ROOT, modulePath);
  const file = ['.js', '.mjs', '.cjs'].map((ext) => base + ext).find((f) => fs.existsSync(f));
  if (file === undefined) {
    throw new RuntimeError(
      'Runtime.ImportModuleError',
      `Error: Cannot find module '${modulePath}' in ${TASK_ROOT} (tried .js, .mjs, .cjs)`,
    );
  }
  try {
    if (file.endsWith('.mjs') || (file.endsWith('.js') && isModuleType(file))) {
      return await importFile(file);
    }
    try {
      return require(file);
    } catch (err) {
      if (err && err.code === 'ERR_REQUIRE_ESM') return await importFile(file);
      throw err;
    }
  } catch (err) {
    if (err instanceof SyntaxError) {
      throw new RuntimeError('Runtime.UserCodeSyntaxError', `${err.name}: ${err.message}`);
    }
    if (err && err.code === 'MODULE_NOT_FOUND') {
      throw new RuntimeError('Runtime.ImportModuleError', `Error: ${err.message}`);
    }
    throw err;
  }
}

async function loadHandler(handlerName) {
  const [modulePath, exportPath] = splitHandler(handlerName);
  const mod = await loadModule(modulePath);
  let fn = mod;
  for (const key of exportPath.split('.')) fn = fn === undefined || fn === null ? undefined : fn[key];
  if (fn === undefined && mod && mod.default) {
    fn = mod.default;
    for (const key of exportPath.split('.')) fn = fn === undefined || fn === null ? undefined : fn[key];
  }
  if (typeof fn !== 'function') {
    throw new RuntimeError(
      'Runtime.HandlerNotFound',
      `${modulePath}.${exportPath} is undefined or not exported`,
    );
  }
  return fn;
}

// --- invocations --------------------------------------------------------------------------

function parseJson(text) {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    return undefined;
  }
}

function makeContext(requestId, deadlineMs, arn, clientContext, identity, finish) {
  const env = process.env;
  const context = {
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: arn,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: requestId,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: parseJson(identity),
    clientContext: parseJson(clientContext),
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(deadlineMs - Date.now(), 0),
    done: (err, result) => finish(err, result, context.callbackWaitsForEmptyEventLoop),
    succeed: (result) => finish(null, result, context.callbackWaitsForEmptyEventLoop),
    fail: (err) => finish(err || new Error('handled'), undefined, context.callbackWaitsForEmptyEventLoop),
  };
  return context;
}

let handler;
let inFlight = null; // { requestId, settled, waiting: [err, result] | null }

function answer(flight, err, result) {
  const id = flight.requestId;
  if (err !== null && err !== undefined) {
    const doc = errorDocument(err);
    logFailure('Invoke Error', doc, err);
    send(errorFrame(TAG.FUNCTION_ERROR, id, doc));
    return;
  }
  let payload;
  try {
    payload = Buffer.from(JSON.stringify(result === undefined ? null : result), 'utf8');
  } catch (marshal) {
    const doc = errorDocument(marshal, 'Runtime.MarshalError');
    send(errorFrame(TAG.FUNCTION_ERROR, id, doc));
    return;
  }
  if (payload.length > MAX_RESPONSE_BYTES) {
    const doc = errorDocument(
      new Error(
        'Response payload size exceeded maximum allowed payload' +
          ` size (${MAX_RESPONSE_BYTES} bytes).`,
      ),
      'Function.ResponseSizeTooLarge',
    );
    send(errorFrame(TAG.FUNCTION_ERROR, id, doc));
    return;
  }
  send([TAG.RESPONSE, id, payload]);
}

function settle(flight, err, result, waitForEmptyLoop) {
  if (flight.settled || inFlight !== flight) return;
  if (waitForEmptyLoop) {
    flight.waiting = [err, result]; // answered at 'beforeExit', once the loop is empty
    return;
  }
  flight.settled = true;
  inFlight = null;
  answer(flight, err, result);
  setImmediate(serveNext);
}

process.on('beforeExit', () => {
  const flight = inFlight;
  if (flight === null) return;
  const [err, result] = flight.waiting || [null, undefined];
  flight.settled = true;
  inFlight = null;
  answer(flight, err, result);
  serveNext();
});

function serveNext() {
  const message = receive();
  if (!Array.isArray(message) || message[0] !== TAG.INVOKE) {
    throw new Error(`unexpected message from the daemon: ${util.inspect(message)}`);
  }
  const [, requestId, deadlineMs, arn, payload, clientContext, identity] = message;
  const flight = { requestId, settled: false, waiting: null };
  inFlight = flight;
  currentRequestId = requestId;
  const finish = (err, result, wait) => settle(flight, err, result, wait);
  const context = makeContext(requestId, deadlineMs, arn, clientContext, identity, finish);
  const callback = (err, result) => finish(err, result, context.callbackWaitsForEmptyEventLoop);
  let returned;
  try {
    const event = payload.length ? JSON.parse(payload.toString('utf8')) : {};
    returned = handler(event, context, callback);
  } catch (err) {
    finish(err, undefined, false);
    return;
  }
  if (returned && typeof returned.then === 'function') {
    returned.then(
      (result) => finish(null, result, false),
      (err) => finish(err === undefined || err === null ? new Error(String(err)) : err, undefined, false),
    );
  }
  // otherwise: the callback (or context.succeed/fail/done), or an empty event loop, answers
}

process.on('uncaughtException', (err) => {
  const doc = errorDocument(err);
  logFailure('Uncaught Exception', doc, err);
  process.exit(1);
});

async function main() {
  try {
    handler = await loadHandler(process.env._HANDLER || '');
  } catch (err) {
    const doc = errorDocument(err, err instanceof RuntimeError ? err.errorType : undefined);
    logFailure('Uncaught Exception', doc, err);
    send(errorFrame(TAG.INIT_ERROR, null, doc));
    process.exit(1);
  }
  send([TAG.READY]);
  setImmediate(serveNext);
}

main();
