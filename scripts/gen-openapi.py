import json
def ref(n): return {"$ref": "#/components/schemas/"+n}
def obj(props, req=None):
    o={"type":"object","properties":props,"additionalProperties":False}
    o["required"]=req if req is not None else list(props)
    return o
S={"type":"string"}; I={"type":"integer","minimum":0}; B={"type":"boolean"}; T={"type":"string","format":"date-time"}; N={"type":"number"}
def arr(x, nullable=False):
    a={"type":"array","items":x}
    if nullable: a["nullable"]=True
    return a
def j(schema): return {"application/json":{"schema":schema}}
P={"application/problem+json":{"schema":ref("Problem")}}
def resp(code, desc, schema=None, problem=False):
    r={"description":desc}
    if schema is not None: r["content"]=j(schema)
    if problem: r["content"]=P
    return r
def err(*codes):
    d={"400":"Bad request","401":"Missing or wrong bearer token","404":"No such resource","409":"Conflict","502":"The remote party did not answer","503":"Draining"}
    return {str(c):resp(c,d[str(c)],problem=True) for c in codes}
def op(summary, oid, responses, params=None, body=None, tags=None):
    o={"summary":summary,"operationId":oid,"responses":responses}
    if params: o["parameters"]=params
    if body: o["requestBody"]=body
    if tags: o["tags"]=tags
    return o
def path(name, desc): return {"name":name,"in":"path","required":True,"schema":S,"description":desc}
callid=path("id","the call's Call-ID")
orbit=path("orbit","the orbit number")
confid=path("id","the conference id")
pid=path("pid","the participant id")
recid=path("id","the recording id (UUID)")
schemas={
 "Problem": {"type":"object","description":"RFC 9457 problem details","properties":{"type":S,"title":S,"status":{"type":"integer"},"detail":S},"required":["type","title","status"]},
 "Status": obj({"status":S}),
 "Version": obj({"version":S}),
 "RTP": obj({"packets_sent":I,"packets_received":I,"bytes_sent":I,"bytes_received":I,"packets_lost":I,"jitter_seconds":N}),
 "Call": obj({"id":S,"app":S,"direction":{"type":"string","enum":["incoming","outgoing"]},"from":S,"to":S,
   "state":{"type":"string","enum":["idle","incoming","establishing","established","parking","transferring","terminating","terminated"]},
   "since":T,"established":T,"codec":S,"rtp":ref("RTP")}, ["id","app","direction","from","to","state","since","rtp"]),
 "CallList": obj({"calls":arr(ref("Call"))}),
 "Orbit": obj({"orbit":S,"call_id":S,"parker":S,"parked":S,"since":T}),
 "OrbitList": obj({"orbits":arr(ref("Orbit")),"capacity":I}),
 "Participant": obj({"id":S,"uri":S,"display_name":S,"role":S,"trusted":B,"hidden":B,"muted":B,"joined_at":T},["id","uri","role","trusted","hidden","muted","joined_at"]),
 "Conference": obj({"id":S,"uri":S,"locked":B,"participants":I,"recording":B,"roster":arr(ref("Participant"))},["id","uri","locked","participants","recording"]),
 "ConferenceList": obj({"conferences":arr(ref("Conference"))}),
 "Channel": obj({"channel":I,"label":S,"party":S,"source":S,"codec":S},["channel","label","source"]),
 "File": obj({"name":S,"encoding":S,"channels":arr(ref("Channel"),True)},["name","encoding","channels"]),
 "Pause": obj({"start":T,"end":T,"file_offset_seconds":N},["start","file_offset_seconds"]),
 "Recording": obj({"id":S,"call_id":S,"conference_id":S,"parties":arr(S),"layout":S,"sample_rate":I,"pause_mode":S,
   "files":arr(ref("File"),True),"start":T,"end":T,"duration_seconds":N,"pauses":arr(ref("Pause")),"stop_reason":S,"error":S,"active":B},
   ["id","layout","sample_rate","pause_mode","files","start","duration_seconds","active"]),
 "RecordingList": obj({"recordings":arr(ref("Recording"))}),
 "RetrieveRequest": obj({"uri":S}),
 "OriginateRequest": obj({"a":S,"b":S,"timeout_seconds":{"type":"integer","minimum":1}},req=["a","b"]),
 "OriginateResponse": obj({"a":ref("Call"),"b":ref("Call")}),
 "TransferRequest": obj({"to":S},req=["to"]),
 "HoldRequest": obj({"music":{"type":"boolean"}},req=[]),
 "ParkRequest": obj({"orbit":S},req=[]),
 "AnnouncementRequest": obj({"file":{"type":"string","description":"a WAV file on the server"}}),
 "AnnouncementResponse": obj({"conference":S,"file":S,"duration_seconds":N}),
}
paths={
 "/healthz":{"get":op("Liveness","healthz",{"200":resp(200,"Alive",ref("Status")),**err(401)},tags=["health"])},
 "/readyz":{"get":op("Readiness: 503 while draining","readyz",{"200":resp(200,"Ready",ref("Status")),**err(401,503)},tags=["health"])},
 "/metrics":{"get":op("Prometheus metrics (text exposition format)","metrics",{"200":{"description":"Metrics","content":{"text/plain":{"schema":S}}},**err(401)},tags=["health"])},
 "/api/v1/openapi.json":{"get":op("This document","openapi",{"200":resp(200,"OpenAPI 3 document",{"type":"object"}),**err(401)})},
 "/api/v1/version":{"get":op("Version","version",{"200":resp(200,"Version",ref("Version")),**err(401)})},
 "/api/v1/drain":{"post":op("Drain: new calls get 503, established calls run up to drain_timeout","drain",{"202":resp(202,"Draining",ref("Status")),**err(401)})},
 "/api/v1/events":{"get":op("Server-Sent Events of calls, park, conferences and recordings; resumable with Last-Event-ID","events",
    {"200":{"description":"An event stream: each event has an id, a type (call, park, conference, recording, gap) and JSON data","content":{"text/event-stream":{"schema":S}}},**err(400,401)},
    params=[{"name":"Last-Event-ID","in":"header","required":False,"schema":S},{"name":"last_event_id","in":"query","required":False,"schema":S}],tags=["events"])},
 "/api/v1/calls":{"get":op("List live calls","listCalls",{"200":resp(200,"Calls",ref("CallList")),**err(401)},tags=["calls"]),
    "post":op("Originate (click-to-call): dial a, then b presenting a, and connect them","originate",
      {"201":resp(201,"Both legs up",ref("OriginateResponse")),**err(400,401,404,502)},body={"required":True,"content":j(ref("OriginateRequest"))},tags=["calls"])},
 "/api/v1/calls/{id}/transfer":{"parameters":[callid],"post":op("Blind-transfer the remote party (REFER)","transferCall",
    {"204":{"description":"Transferred"},**err(400,401,404,502)},body={"required":True,"content":j(ref("TransferRequest"))},tags=["calls"])},
 "/api/v1/calls/{id}/hold":{"parameters":[callid],"post":op("Hold the remote party (with music by default)","holdCall",
    {"200":resp(200,"Held",ref("Call")),**err(400,401,404,409)},body={"required":False,"content":j(ref("HoldRequest"))},tags=["calls"])},
 "/api/v1/calls/{id}/retrieve":{"parameters":[callid],"post":op("Take the call off hold","retrieveCall",
    {"200":resp(200,"Retrieved",ref("Call")),**err(401,404,409)},tags=["calls"])},
 "/api/v1/calls/{id}/park":{"parameters":[callid],"post":op("Park the call (the park service takes it over)","parkCall",
    {"201":resp(201,"Parked",ref("Orbit")),**err(400,401,404,409,503)},body={"required":False,"content":j(ref("ParkRequest"))},tags=["calls","park"])},
 "/api/v1/calls/{id}":{"parameters":[callid],
    "get":op("Get a call","getCall",{"200":resp(200,"Call",ref("Call")),**err(401,404)},tags=["calls"]),
    "delete":op("Hang up a call (BYE)","hangUpCall",{"204":{"description":"Hung up"},**err(401,404)},tags=["calls"])},
 "/api/v1/orbits":{"get":op("List parked calls","listOrbits",{"200":resp(200,"Orbits",ref("OrbitList")),**err(401,404)},tags=["park"])},
 "/api/v1/orbits/{orbit}":{"parameters":[orbit],"delete":op("Hang up a parked call","hangUpOrbit",{"204":{"description":"Hung up"},**err(401,404)},tags=["park"])},
 "/api/v1/orbits/{orbit}/retrieve":{"parameters":[orbit],"post":op("Call a URI and connect it to the parked call","retrieveOrbit",
    {"204":{"description":"Connected"},**err(400,401,404,502)},body={"required":True,"content":j(ref("RetrieveRequest"))},tags=["park"])},
 "/api/v1/conferences":{"get":op("List conferences","listConferences",{"200":resp(200,"Conferences",ref("ConferenceList")),**err(401,404)},tags=["conferences"])},
 "/api/v1/conferences/{id}":{"parameters":[confid],"get":op("A conference and its roster (hidden participants flagged)","getConference",{"200":resp(200,"Conference",ref("Conference")),**err(401,404)},tags=["conferences"])},
 "/api/v1/conferences/{id}/lock":{"parameters":[confid],"post":op("Lock","lockConference",{"200":resp(200,"Locked",ref("Conference")),**err(401,404)},tags=["conferences"])},
 "/api/v1/conferences/{id}/unlock":{"parameters":[confid],"post":op("Unlock","unlockConference",{"200":resp(200,"Unlocked",ref("Conference")),**err(401,404)},tags=["conferences"])},
 "/api/v1/conferences/{id}/participants/{pid}":{"parameters":[confid,pid],"delete":op("Eject a participant (BYE)","ejectParticipant",{"204":{"description":"Ejected"},**err(401,404)},tags=["conferences"])},
 "/api/v1/conferences/{id}/participants/{pid}/mute":{"parameters":[confid,pid],"post":op("Mute","muteParticipant",{"200":resp(200,"Muted",ref("Participant")),**err(401,404)},tags=["conferences"])},
 "/api/v1/conferences/{id}/participants/{pid}/unmute":{"parameters":[confid,pid],"post":op("Unmute","unmuteParticipant",{"200":resp(200,"Unmuted",ref("Participant")),**err(401,404)},tags=["conferences"])},
 "/api/v1/conferences/{id}/recording":{"parameters":[confid],
    "post":op("Start recording the conference (a hidden recorder joins)","startConferenceRecording",{"201":resp(201,"Recording",ref("Recording")),**err(401,404,409)},tags=["conferences","recordings"]),
    "delete":op("Stop recording the conference","stopConferenceRecording",{"204":{"description":"Stopped"},**err(401,404)},tags=["conferences","recordings"])},
 "/api/v1/conferences/{id}/announcement":{"parameters":[confid],
    "post":op("Play a WAV file into the conference from a hidden leg; answers when it has played","announceConference",
      {"200":resp(200,"Played",ref("AnnouncementResponse")),**err(400,401,404),"502":resp(502,"The announcement could not be played",problem=True)},
      body={"required":True,"content":j(ref("AnnouncementRequest"))},tags=["conferences"])},
 "/api/v1/recordings":{"get":op("List recordings","listRecordings",{"200":resp(200,"Recordings",ref("RecordingList")),**err(401,404)},tags=["recordings"])},
 "/api/v1/recordings/{id}":{"parameters":[recid],
    "get":op("A recording's metadata","getRecording",{"200":resp(200,"Recording",ref("Recording")),**err(401,404)},tags=["recordings"]),
    "delete":op("Delete a recording (audio and sidecar)","deleteRecording",{"204":{"description":"Deleted"},**err(401,404,409)},tags=["recordings"])},
 "/api/v1/recordings/{id}/audio":{"parameters":[recid,{"name":"file","in":"query","required":False,"schema":S,"description":"one of the recording's files (default: the first)"}],
    "get":op("Download the audio; HTTP Range supported","downloadRecording",{"200":{"description":"WAV","content":{"audio/wav":{"schema":{"type":"string","format":"binary"}}}},
      "206":{"description":"Partial WAV","content":{"audio/wav":{"schema":{"type":"string","format":"binary"}}}},"416":{"description":"Range not satisfiable"},**err(401,404)},tags=["recordings"])},
}

# The operator console's parts of the API (admin/console, admin/tickets.go):
# display names, orbit ranges and the pickup timeout, the talking flag,
# and tickets for the event stream and the audio element.
CONSOLE=json.loads('{"schemas_props": {"Call": {"from_name": {"type": "string", "description": "Display name of From, when known"}, "to_name": {"type": "string", "description": "Display name of To, when known"}}, "OrbitList": {"pickup_timeout_seconds": {"type": "number", "minimum": 0, "description": "How long a call stays parked before its parker is rung back, from its since"}, "ranges": {"type": "array", "description": "The configured orbit ranges; an orbit of a range not in orbits is free", "items": {"$ref": "#/components/schemas/OrbitRange"}}}, "Participant": {"talking": {"type": "boolean", "description": "The participant is talking (its talk gate is open)"}}}, "required": {"OrbitList": ["orbits", "capacity", "ranges", "pickup_timeout_seconds"], "Call": ["id", "app", "direction", "from", "to", "state", "since", "rtp"], "Participant": ["id", "uri", "role", "trusted", "hidden", "muted", "joined_at"]}, "schemas": {"OrbitRange": {"type": "object", "properties": {"start": {"type": "string"}, "end": {"type": "string"}}, "additionalProperties": false, "required": ["start", "end"]}, "Ticket": {"type": "object", "description": "A credential for GET of one path for 60 s, passed as its ticket query parameter (for EventSource and <audio>, which cannot send Authorization)", "properties": {"ticket": {"type": "string"}, "path": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}}, "additionalProperties": false, "required": ["ticket", "path", "expires_at"]}, "TicketRequest": {"type": "object", "properties": {"path": {"type": "string", "description": "/api/v1/events or /api/v1/recordings/{id}/audio"}}, "additionalProperties": false, "required": ["path"]}}, "params": {"/api/v1/events": [{"name": "Last-Event-ID", "in": "header", "required": false, "schema": {"type": "string"}}, {"name": "last_event_id", "in": "query", "required": false, "schema": {"type": "string"}}, {"name": "ticket", "in": "query", "required": false, "description": "A ticket from POST /api/v1/tickets for this path, instead of the bearer token", "schema": {"type": "string"}}], "/api/v1/recordings/{id}/audio": [{"name": "ticket", "in": "query", "required": false, "description": "A ticket from POST /api/v1/tickets for this path, instead of the bearer token", "schema": {"type": "string"}}]}, "paths": {"/api/v1/tickets": {"post": {"summary": "Issue a short-lived ticket for one GET path (the event stream, a recording\'s audio)", "operationId": "issueTicket", "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TicketRequest"}}}}, "responses": {"201": {"description": "The ticket", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Ticket"}}}}, "400": {"description": "Bad request", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}, "401": {"description": "Missing or wrong bearer token", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}}}}}')
for name,props in CONSOLE["schemas_props"].items():
    schemas[name]["properties"].update(props)
for name,req in CONSOLE["required"].items():
    if req is not None:
        schemas[name]["required"]=req
schemas.update(CONSOLE["schemas"])
for p,params in CONSOLE["params"].items():
    paths[p]["get"]["parameters"]=params
paths.update(CONSOLE["paths"])
doc={"openapi":"3.0.3","info":{"title":"Switchboard admin API","version":"1.0.0","description":"The operator's API of a running Switchboard server. Errors are RFC 9457 problem details."},
 "servers":[{"url":"/"}],"security":[{"bearer":[]}],
 "components":{"securitySchemes":{"bearer":{"type":"http","scheme":"bearer","description":"Required when admin.token is set"}},"schemas":schemas},
 "paths":paths}
print(json.dumps(doc,indent=1))
