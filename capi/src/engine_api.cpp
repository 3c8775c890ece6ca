// svc.h: engine, configuration and health.
#include "handles.h"

using svc::Status;
using svc::capi::Guard;
using svc::capi::Null;
using svc::capi::NullArgument;

extern "C" {

svc_error* svc_engine_new(svc_engine** out, const char* options_json) {
  if (!out) return NullArgument("out");
  *out = nullptr;
  return Guard("svc_engine_new", [&]() -> Status {
    svc::EngineOptions options;
    SVC_TRY(svc::ParseEngineOptions(options_json ? options_json : "", &options));
    auto handle = std::make_unique<svc_engine>();
    SVC_TRY(svc::Engine::Create(std::move(options), &handle->engine));
    *out = handle.release();
    return Status::Ok();
  });
}

void svc_engine_free(svc_engine* e) {
  if (!e) return;
  try {
    e->engine->Shutdown();
  } catch (...) {
  }
  delete e;
}

svc_error* svc_engine_load_config(svc_engine* e, const char* text, size_t len) {
  return Guard("svc_engine_load_config", [&]() -> Status {
    if (!e) return Null("engine");
    if (!text) return Null("text");
    return e->engine->LoadConfig(std::string_view(text, len));
  });
}

svc_error* svc_upstream_upsert(svc_engine* e, const char* upstream_json) {
  return Guard("svc_upstream_upsert", [&]() -> Status {
    if (!e) return Null("engine");
    if (!upstream_json) return Null("upstream_json");
    return e->engine->UpsertUpstream(std::string_view(upstream_json));
  });
}

svc_error* svc_upstream_delete(svc_engine* e, const char* name) {
  return Guard("svc_upstream_delete", [&]() -> Status {
    if (!e) return Null("engine");
    if (!name) return Null("name");
    return e->engine->DeleteUpstream(name);
  });
}

svc_error* svc_upstream_get(svc_engine* e, const char* name, char** out_json) {
  if (!out_json) return NullArgument("out_json");
  *out_json = nullptr;
  return Guard("svc_upstream_get", [&]() -> Status {
    if (!e) return Null("engine");
    if (!name) return Null("name");
    std::string json;
    SVC_TRY(e->engine->GetUpstream(name, &json));
    *out_json = svc::capi::CopyOut(json);
    if (!*out_json) return svc::Error(svc::Code::no_memory, "out of memory");
    return Status::Ok();
  });
}

svc_error* svc_target_add(svc_engine* e, const char* upstream, const char* target, int weight) {
  return Guard("svc_target_add", [&]() -> Status {
    if (!e) return Null("engine");
    if (!upstream) return Null("upstream");
    if (!target) return Null("target");
    return e->engine->AddTarget(upstream, target, weight);
  });
}

svc_error* svc_target_delete(svc_engine* e, const char* upstream, const char* target) {
  return Guard("svc_target_delete", [&]() -> Status {
    if (!e) return Null("engine");
    if (!upstream) return Null("upstream");
    if (!target) return Null("target");
    return e->engine->DeleteTarget(upstream, target);
  });
}

svc_error* svc_target_set_health(svc_engine* e, const char* upstream, const char* target,
                                 const char* address, int healthy) {
  return Guard("svc_target_set_health", [&]() -> Status {
    if (!e) return Null("engine");
    if (!upstream) return Null("upstream");
    if (!target) return Null("target");
    return e->engine->SetTargetHealth(upstream, target, address, healthy != 0);
  });
}

svc_error* svc_upstream_health(svc_engine* e, const char* upstream, char** out_json) {
  if (!out_json) return NullArgument("out_json");
  *out_json = nullptr;
  return Guard("svc_upstream_health", [&]() -> Status {
    if (!e) return Null("engine");
    if (!upstream) return Null("upstream");
    std::string json;
    SVC_TRY(e->engine->Health(upstream, &json));
    *out_json = svc::capi::CopyOut(json);
    if (!*out_json) return svc::Error(svc::Code::no_memory, "out of memory");
    return Status::Ok();
  });
}

svc_error* svc_engine_on_health(svc_engine* e, svc_health_cb cb, void* userdata) {
  return Guard("svc_engine_on_health", [&]() -> Status {
    if (!e) return Null("engine");
    if (e->engine->closed()) return svc::Error(svc::Code::closed, "the engine is closed");
    if (!cb) {
      e->engine->OnHealth(nullptr);
      return Status::Ok();
    }
    e->engine->OnHealth([cb, userdata](const std::string& upstream, const std::string& target,
                                       const std::string& address, bool healthy) {
      cb(userdata, upstream.c_str(), target.c_str(), address.c_str(), healthy ? 1 : 0);
    });
    return Status::Ok();
  });
}

svc_error* svc_engine_on_log(svc_engine* e, svc_log_cb cb, void* userdata) {
  return Guard("svc_engine_on_log", [&]() -> Status {
    if (!e) return Null("engine");
    if (e->engine->closed()) return svc::Error(svc::Code::closed, "the engine is closed");
    if (!cb) {
      e->engine->OnLog(nullptr);
      return Status::Ok();
    }
    e->engine->OnLog([cb, userdata](int level, const std::string& message) {
      cb(userdata, level, message.c_str());
    });
    return Status::Ok();
  });
}

}  // extern "C"
