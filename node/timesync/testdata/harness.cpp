// harness.cpp drives ROS 1's own message_filters sync policies (Debian's libmessage-filters-dev) with the
// streams that timesync's differential test writes on stdin, and prints what the policies did, so that the Go
// package can be compared with the real C++ code rather than with a second reading of it.
//
// Input, one token group per line:
//   S <a|e> <topics> <queue> <age_penalty> <max_interval_ns or -1> <reset 0|1> <lower_bound_ns per topic...>
//   M <topic> <stamp_ns> <receipt_ns>        (message ids count from 0 in the order of the M lines)
//   E                                        (end of stream)
//   X <duration_ns> <factor>                 (outside streams: print ros::Duration * double)
//   T <repeats> <shift_ns>                   (before S: time the stream instead, fed <repeats> times with
//                                            stamps and receipts shifted by <shift_ns> each time)
// Output, per stream:
//   S
//   O <k> <id per topic...>   a set emitted while message k was added
//   D <k> <id>                ExactTime's drop callback named message id while message k was added
//   P <id...>                 messages still held by the policy at the end, ascending
//   E
//   X <ns>                    the product, for an X line
//   T <ns>                    for a timed stream (instead of S ... E): nanoseconds per added message
//
// The policies keep their queues private; the harness reads them at the end of each stream to learn which
// messages are still waiting. That is why `private` is redefined below, after every system and Boost header the
// policies use has been included with its own access rules.

#include <boost/bind/bind.hpp>
#include <boost/function.hpp>
#include <boost/function_types/function_arity.hpp>
#include <boost/function_types/is_nonmember_callable_builtin.hpp>
#include <boost/mpl/at.hpp>
#include <boost/mpl/or.hpp>
#include <boost/mpl/vector.hpp>
#include <boost/noncopyable.hpp>
#include <boost/shared_ptr.hpp>
#include <boost/make_shared.hpp>
#include <boost/thread/mutex.hpp>
#include <boost/signals2/connection.hpp>
#include <boost/tuple/tuple.hpp>
#include <boost/type_traits/is_same.hpp>

#include <ros/assert.h>
#include <ros/time.h>
#include <ros/duration.h>
#include <ros/message_event.h>
#include <ros/message_traits.h>
#include <ros/parameter_adapter.h>
#include <message_filters/connection.h>
#include <message_filters/null_types.h>
#include <message_filters/signal9.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

// A stamped message that carries its position in the stream.
struct Stamped
{
  ros::Time stamp;
  int id;
};

namespace ros
{
namespace message_traits
{
template<>
struct TimeStamp<Stamped>
{
  static ros::Time value(const Stamped& m) { return m.stamp; }
};
}  // namespace message_traits
}  // namespace ros

#define private public
#include <message_filters/synchronizer.h>
#include <message_filters/sync_policies/approximate_time.h>
#include <message_filters/sync_policies/exact_time.h>
#undef private

using message_filters::NullType;

// Slot I of an N-topic policy: a real message type for the first N, NullType after.
template<int N, int I>
using Slot = typename std::conditional<(I < N), Stamped, NullType>::type;

template<int N, template<typename...> class P>
using PolicyOf = P<Slot<N, 0>, Slot<N, 1>, Slot<N, 2>, Slot<N, 3>, Slot<N, 4>, Slot<N, 5>, Slot<N, 6>,
                   Slot<N, 7>, Slot<N, 8>>;

static FILE* out = stdout;
static long current = -1;  // index of the message being added
static bool quiet = false; // timing: the callbacks only count
static long emitted_sets = 0;

static void put(const boost::shared_ptr<Stamped const>& m, std::vector<int>& ids)
{
  ids.push_back(m ? m->id : -1);
}
static void put(const boost::shared_ptr<NullType const>&, std::vector<int>&) {}

template<int N>
struct Sink
{
  template<int I>
  using Ptr = const boost::shared_ptr<Slot<N, I> const>&;

  static void emitted(Ptr<0> m0, Ptr<1> m1, Ptr<2> m2, Ptr<3> m3, Ptr<4> m4, Ptr<5> m5, Ptr<6> m6, Ptr<7> m7,
                      Ptr<8> m8)
  {
    emitted_sets++;
    if (quiet)
      return;
    std::vector<int> ids;
    put(m0, ids); put(m1, ids); put(m2, ids); put(m3, ids); put(m4, ids);
    put(m5, ids); put(m6, ids); put(m7, ids); put(m8, ids);
    std::fprintf(out, "O %ld", current);
    for (int id : ids)
      std::fprintf(out, " %d", id);
    std::fprintf(out, "\n");
  }

  static void dropped(Ptr<0> m0, Ptr<1> m1, Ptr<2> m2, Ptr<3> m3, Ptr<4> m4, Ptr<5> m5, Ptr<6> m6, Ptr<7> m7,
                      Ptr<8> m8)
  {
    if (quiet)
      return;
    std::vector<int> ids;
    put(m0, ids); put(m1, ids); put(m2, ids); put(m3, ids); put(m4, ids);
    put(m5, ids); put(m6, ids); put(m7, ids); put(m8, ids);
    for (int id : ids)
      if (id >= 0)
        std::fprintf(out, "D %ld %d\n", current, id);
  }

  typedef boost::function<void(Ptr<0>, Ptr<1>, Ptr<2>, Ptr<3>, Ptr<4>, Ptr<5>, Ptr<6>, Ptr<7>, Ptr<8>)> Fn;
};

struct Message
{
  int topic;
  uint64_t stamp, receipt;
};

struct Stream
{
  char policy;
  int topics;
  uint32_t queue;
  double age_penalty;
  int64_t max_interval;  // -1: unlimited
  bool reset;
  std::vector<int64_t> lower_bounds;
  std::vector<Message> messages;
  int repeats = 0;  // > 0: a timed stream
  int64_t shift = 0;
};

// add calls sync.add<I>() for the topic chosen at run time.
template<int N, int I = 0, class S>
void add(S& sync, int topic, const ros::MessageEvent<Stamped const>& evt)
{
  if constexpr (I < N)
  {
    if (topic == I)
      sync.template add<I>(evt);
    else
      add<N, I + 1>(sync, topic, evt);
  }
  else
  {
    std::fprintf(stderr, "harness: topic %d out of range\n", topic);
    std::exit(2);
  }
}

// Waiting messages of the approximate policy: its deques, its passed-over lists and its candidate.
template<int N, int I = 0, class S>
void waitingApprox(S& sync, std::set<int>& ids)
{
  if constexpr (I < N)
  {
    for (const auto& e : boost::get<I>(sync.deques_))
      ids.insert(e.getMessage()->id);
    for (const auto& e : boost::get<I>(sync.past_))
      ids.insert(e.getMessage()->id);
    if (sync.pivot_ != S::NO_PIVOT && boost::get<I>(sync.candidate_).getMessage())
      ids.insert(boost::get<I>(sync.candidate_).getMessage()->id);
    waitingApprox<N, I + 1>(sync, ids);
  }
}

template<int N, int I = 0, class Tuple>
void waitingTuple(const Tuple& t, std::set<int>& ids)
{
  if constexpr (I < N)
  {
    if (boost::get<I>(t).getMessage())
      ids.insert(boost::get<I>(t).getMessage()->id);
    waitingTuple<N, I + 1>(t, ids);
  }
}

// timed feeds the stream st.repeats times with the events made beforehand, and prints the time per message.
template<int N, class S>
void timed(S& sync, const Stream& st)
{
  std::vector<ros::MessageEvent<Stamped const>> events;
  std::vector<int> topics;
  for (int r = 0; r < st.repeats; r++)
    for (size_t k = 0; k < st.messages.size(); k++)
    {
      const Message& m = st.messages[k];
      boost::shared_ptr<Stamped> msg = boost::make_shared<Stamped>();
      msg->stamp.fromNSec(m.stamp + r * st.shift);
      msg->id = (int)k;
      ros::Time receipt;
      receipt.fromNSec(m.receipt + r * st.shift);
      events.push_back(ros::MessageEvent<Stamped const>(msg, receipt));
      topics.push_back(m.topic);
    }
  quiet = true;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t k = 0; k < events.size(); k++)
    add<N>(sync, topics[k], events[k]);
  auto t1 = std::chrono::steady_clock::now();
  quiet = false;
  double ns = std::chrono::duration<double, std::nano>(t1 - t0).count();
  std::fprintf(out, "T %.1f %ld\n", ns / events.size(), emitted_sets);
}

template<int N, class S>
void feed(S& sync, const Stream& st)
{
  if (st.repeats > 0)
  {
    timed<N>(sync, st);
    return;
  }
  for (size_t k = 0; k < st.messages.size(); k++)
  {
    const Message& m = st.messages[k];
    current = (long)k;
    ros::Time receipt;
    receipt.fromNSec(m.receipt);
    ros::Time::setNow(receipt);  // ExactTime reads the clock; ApproximateTime reads the event's receipt time
    boost::shared_ptr<Stamped> msg = boost::make_shared<Stamped>();
    msg->stamp.fromNSec(m.stamp);
    msg->id = (int)k;
    add<N>(sync, m.topic, ros::MessageEvent<Stamped const>(msg, receipt));
  }
}

static void printWaiting(const std::set<int>& ids)
{
  std::fprintf(out, "P");
  for (int id : ids)
    std::fprintf(out, " %d", id);
  std::fprintf(out, "\nE\n");
}

template<int N>
void runApprox(const Stream& st)
{
  typedef PolicyOf<N, message_filters::sync_policies::ApproximateTime> Policy;
  message_filters::Synchronizer<Policy> sync{Policy(st.queue)};
  sync.registerCallback(typename Sink<N>::Fn(&Sink<N>::emitted));
  sync.setAgePenalty(st.age_penalty);
  if (st.max_interval >= 0)
    sync.setMaxIntervalDuration(ros::Duration().fromNSec(st.max_interval));
  for (int i = 0; i < N; i++)
    sync.setInterMessageLowerBound(i, ros::Duration().fromNSec(st.lower_bounds[i]));
  sync.setReset(st.reset);
  feed<N>(sync, st);
  if (st.repeats > 0)
    return;
  std::set<int> ids;
  waitingApprox<N>(sync, ids);
  printWaiting(ids);
}

template<int N>
void runExact(const Stream& st)
{
  typedef PolicyOf<N, message_filters::sync_policies::ExactTime> Policy;
  message_filters::Synchronizer<Policy> sync{Policy(st.queue)};
  sync.registerCallback(typename Sink<N>::Fn(&Sink<N>::emitted));
  sync.registerDropCallback(typename Sink<N>::Fn(&Sink<N>::dropped));
  sync.setReset(st.reset);
  feed<N>(sync, st);
  if (st.repeats > 0)
    return;
  std::set<int> ids;
  for (const auto& kv : sync.tuples_)
    waitingTuple<N>(kv.second, ids);
  printWaiting(ids);
}

template<int N>
void run(const Stream& st)
{
  if (st.policy == 'a')
    runApprox<N>(st);
  else
    runExact<N>(st);
}

int main()
{
  std::ios::sync_with_stdio(false);
  ros::Time::init();
  std::string tag;
  while (std::cin >> tag)
  {
    if (tag == "X")
    {
      int64_t ns;
      double factor;
      std::cin >> ns >> factor;
      std::fprintf(out, "X %lld\n", (long long)(ros::Duration().fromNSec(ns) * factor).toNSec());
      continue;
    }
    Stream st;
    if (tag == "T")
    {
      std::cin >> st.repeats >> st.shift >> tag;
      emitted_sets = 0;
    }
    if (tag != "S")
    {
      std::fprintf(stderr, "harness: expected S, got %s\n", tag.c_str());
      return 2;
    }
    std::string policy;
    int reset;
    std::cin >> policy >> st.topics >> st.queue >> st.age_penalty >> st.max_interval >> reset;
    st.policy = policy[0];
    st.reset = reset != 0;
    st.lower_bounds.resize(st.topics);
    for (int i = 0; i < st.topics; i++)
      std::cin >> st.lower_bounds[i];
    while (std::cin >> tag && tag == "M")
    {
      Message m;
      std::cin >> m.topic >> m.stamp >> m.receipt;
      st.messages.push_back(m);
    }
    if (tag != "E" || !std::cin)
    {
      std::fprintf(stderr, "harness: stream not terminated by E\n");
      return 2;
    }
    if (st.repeats == 0)
      std::fprintf(out, "S\n");
    switch (st.topics)
    {
    case 2: run<2>(st); break;
    case 3: run<3>(st); break;
    case 4: run<4>(st); break;
    case 9: run<9>(st); break;
    default:
      std::fprintf(stderr, "harness: %d topics not built in (2, 3, 4 and 9 are)\n", st.topics);
      return 2;
    }
  }
  std::fflush(out);
  return 0;
}
