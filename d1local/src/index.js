// Serves Cloudflare's D1 REST query endpoint over this Worker's D1 bindings,
// so that agentaudit's Go client can be tested against D1's own engine:
//
//   POST /client/v4/accounts/:account/d1/database/:database/query
//     {"sql": "...", "params": [...]}             one statement
//     {"batch": [{"sql": "...", "params": [...]}]} statements in one transaction
//
// Replies use the REST API's envelope: {success, errors, messages, result}.
// The engine itself enforces D1's limits (100 bound parameters, 100,000-byte
// statements, value size) and rejects BEGIN, COMMIT and SAVEPOINT.
//
// Test endpoints, which need the same bearer token:
//   GET    /__test/statements         request count and statement log
//   DELETE /__test/statements         clears both
//   POST   /__test/reset?database=ID  drops every table of one database

const QUERY_PATH = /^\/client\/v4\/accounts\/([^/]+)\/d1\/database\/([^/]+)\/query$/;

// Statements whose first keyword controls a transaction; D1 rejects them
// and agentaudit must never send one.
const TRANSACTION_CONTROL = /^(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b/i;

// The log keeps the most recent statements only; counters cover them all.
const MAX_LOGGED_STATEMENTS = 20000;
const LOGGED_SQL_CHARS = 300;

// Counters are kept for all requests and, apart, for each value of the
// X-D1local-Client request header, so that test processes running at the
// same time can each measure their own requests.
const CLIENT_HEADER = "X-D1local-Client";
const stats = newStats();
const statsByClient = new Map();

function clientStats(request) {
	const client = request.headers.get(CLIENT_HEADER);
	if (!client) {
		return null;
	}
	let s = statsByClient.get(client);
	if (!s) {
		s = newStats();
		statsByClient.set(client, s);
	}
	return s;
}

function newStats() {
	return {
		requests: 0,
		statements: 0,
		transactionControl: 0,
		maxParams: 0,
		maxSqlBytes: 0,
		log: [],
	};
}

export default {
	async fetch(request, env) {
		if (!authorized(request, env)) {
			return failure(401, 10000, "Authentication error");
		}

		const url = new URL(request.url);
		if (url.pathname === "/__test/statements") {
			return statementsEndpoint(request, url);
		}
		if (url.pathname === "/__test/reset") {
			return resetEndpoint(request, env, url);
		}

		const match = QUERY_PATH.exec(url.pathname);
		if (!match) {
			return failure(404, 7000, `No route for that URI: ${request.method} ${url.pathname}`);
		}
		if (request.method !== "POST") {
			return failure(405, 10405, `Method ${request.method} not allowed; use POST`);
		}
		const [, account, database] = match;
		if (account !== env.ACCOUNT_ID) {
			return failure(403, 7403, "The given account is not valid or is not authorized to access this service");
		}
		const db = bindingFor(env, database);
		if (!db) {
			return failure(404, 7404, `The database ${database} could not be found`);
		}

		let body;
		try {
			body = await request.json();
		} catch (err) {
			return failure(400, 7400, `The request is malformed: ${err.message}`);
		}
		const own = clientStats(request);
		for (const s of own ? [stats, own] : [stats]) {
			s.requests++;
		}
		return query(db, body, own);
	},
};

async function query(db, body, own) {
	const statements = Array.isArray(body?.batch) ? body.batch : [body];
	for (const s of statements) {
		if (typeof s?.sql !== "string" || (s.params !== undefined && !Array.isArray(s.params))) {
			return failure(400, 7400, "The request is malformed: each query needs a string sql and an optional params array");
		}
		record(stats, s);
		if (own) {
			record(own, s);
		}
	}

	try {
		const prepared = statements.map((s) => db.prepare(s.sql).bind(...(s.params ?? [])));
		const results = Array.isArray(body.batch) ? await db.batch(prepared) : [await prepared[0].all()];
		return Response.json({
			success: true,
			errors: [],
			messages: [],
			result: results.map((r) => ({ results: r.results ?? [], success: r.success, meta: r.meta })),
		});
	} catch (err) {
		return failure(400, 7500, err.message);
	}
}

function record(stats, statement) {
	const params = statement.params?.length ?? 0;
	const sqlBytes = new TextEncoder().encode(statement.sql).length;
	stats.statements++;
	stats.maxParams = Math.max(stats.maxParams, params);
	stats.maxSqlBytes = Math.max(stats.maxSqlBytes, sqlBytes);
	if (TRANSACTION_CONTROL.test(stripLeadingComments(statement.sql))) {
		stats.transactionControl++;
	}
	stats.log.push({ sql: statement.sql.slice(0, LOGGED_SQL_CHARS), params, sqlBytes });
	if (stats.log.length > MAX_LOGGED_STATEMENTS) {
		stats.log.splice(0, stats.log.length - MAX_LOGGED_STATEMENTS);
	}
}

function stripLeadingComments(sql) {
	let s = sql.trimStart();
	for (;;) {
		if (s.startsWith("--")) {
			const end = s.indexOf("\n");
			s = end < 0 ? "" : s.slice(end + 1).trimStart();
		} else if (s.startsWith("/*")) {
			const end = s.indexOf("*/");
			s = end < 0 ? "" : s.slice(end + 2).trimStart();
		} else {
			return s;
		}
	}
}

// statementsEndpoint returns the counters of the client named by the
// "client" query parameter, or of all requests without one.
function statementsEndpoint(request, url) {
	const client = url.searchParams.get("client");
	if (request.method === "DELETE") {
		Object.assign(stats, newStats());
		statsByClient.clear();
		return Response.json({ success: true });
	}
	if (client) {
		return Response.json(statsByClient.get(client) ?? newStats());
	}
	return Response.json(stats);
}

async function resetEndpoint(request, env, url) {
	if (request.method !== "POST") {
		return failure(405, 10405, `Method ${request.method} not allowed; use POST`);
	}
	const database = url.searchParams.get("database") ?? "";
	const db = bindingFor(env, database);
	if (!db) {
		return failure(404, 7404, `The database ${database} could not be found`);
	}
	const { results } = await db
		.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'")
		.all();
	if (results.length > 0) {
		await db.batch(results.map((t) => db.prepare(`DROP TABLE IF EXISTS "${t.name.replaceAll('"', '""')}"`)));
	}
	return Response.json({ success: true, dropped: results.map((t) => t.name) });
}

function bindingFor(env, database) {
	const name = env.DATABASES?.[database];
	return name ? env[name] : undefined;
}

function authorized(request, env) {
	const header = request.headers.get("Authorization") ?? "";
	return header === `Bearer ${env.TEST_TOKEN}`;
}

function failure(status, code, message) {
	return Response.json({ success: false, errors: [{ code, message }], messages: [], result: [] }, { status });
}
