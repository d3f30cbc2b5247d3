#pragma once
// A non-owning reference to a callable, so the functional API can take lambdas without templates
// in its headers and without the allocation std::function may make.

#include <memory>
#include <type_traits>
#include <utility>

namespace pk::ad {

template <class Signature>
class FunctionRef;

/// Refers to a callable (a lambda, a function object or a plain function) with the given
/// signature. The callable must outlive the reference, as a function argument does.
template <class R, class... Args>
class FunctionRef<R(Args...)> {
 public:
  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> && std::is_invocable_r_v<R, F&, Args...>)
      FunctionRef(F&& f) {  // NOLINT: implicit, so a lambda or function can be passed directly
    using Target = std::remove_reference_t<F>;
    if constexpr (std::is_function_v<Target>) {
      // A function is not an object: keep its address, not a pointer to it.
      target_.function = reinterpret_cast<void (*)()>(&f);
      call_ = [](Target_ t, Args... args) -> R {
        return reinterpret_cast<Target*>(t.function)(std::forward<Args>(args)...);
      };
    } else {
      target_.object = const_cast<void*>(static_cast<const void*>(std::addressof(f)));
      call_ = [](Target_ t, Args... args) -> R {
        return (*static_cast<Target*>(t.object))(std::forward<Args>(args)...);
      };
    }
  }

  R operator()(Args... args) const { return call_(target_, std::forward<Args>(args)...); }

 private:
  union Target_ {
    void* object;
    void (*function)();
  };
  Target_ target_{};
  R (*call_)(Target_, Args...) = nullptr;
};

}  // namespace pk::ad
