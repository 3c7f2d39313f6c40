// names_harness runs roscpp's own name handling (Debian's libroscpp) on cases read from stdin, for
// names_cpp_test.go. Each case is a node's default name, ROS_NAMESPACE and command-line arguments, as
// ros::init(argc, argv, name) would get them, then names to resolve. ros::this_node::init is what
// ros::init calls for names; it needs no master, so one process serves every case.
//
// Input lines (strings hex-encoded after an "h", so that any byte and the empty string survive):
//   C h<default name> h<ROS_NAMESPACE>    starts a case
//   A h<argument>                          an argument containing ":="
//   Q h<name>                              a name to resolve (with remapping)
//   E                                      ends the case
// Output per case: "N h<node name> h<namespace>" or "X h<error>", then "R h<resolved>" or "F h<error>" per
// name, then "E".
#include <ros/exceptions.h>
#include <ros/names.h>
#include <ros/this_node.h>

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace ros {
namespace names {
// Defined in names.cpp; cleared between cases because names::init only adds to them.
extern M_string g_remappings;
extern M_string g_unresolved_remappings;
}  // namespace names
namespace this_node {
// Defined (and exported) in this_node.cpp, which ros::init calls; no public header declares it.
void init(const std::string& name, const M_string& remappings, uint32_t options);
}  // namespace this_node
}  // namespace ros

static std::string unhex(const std::string& s) {
  std::string out;
  for (size_t i = 1; i + 1 < s.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(s.substr(i, 2), nullptr, 16)));
  }
  return out;
}

static std::string hex(const std::string& s) {
  static const char* digits = "0123456789abcdef";
  std::string out = "h";
  for (unsigned char c : s) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

int main() {
  std::string line, name, ns;
  std::vector<std::string> args, queries;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string op, field, second;
    in >> op >> field >> second;
    if (op == "C") {
      name = unhex(field);
      ns = unhex(second);
      args.clear();
      queries.clear();
    } else if (op == "A") {
      args.push_back(unhex(field));
    } else if (op == "Q") {
      queries.push_back(unhex(field));
    } else if (op == "E") {
      // As ros::init(argc, argv, ...) builds its map: split at the first ":=", the last repeat wins.
      ros::M_string remappings;
      for (const std::string& a : args) {
        size_t pos = a.find(":=");
        remappings[a.substr(0, pos)] = a.substr(pos + 2);
      }
      setenv("ROS_NAMESPACE", ns.c_str(), 1);
      ros::names::g_remappings.clear();
      ros::names::g_unresolved_remappings.clear();
      bool ok = true;
      try {
        ros::this_node::init(name, remappings, 0);
        std::cout << "N " << hex(ros::this_node::getName()) << " " << hex(ros::this_node::getNamespace()) << "\n";
      } catch (const std::exception& e) {
        std::cout << "X " << hex(e.what()) << "\n";
        ok = false;
      }
      for (const std::string& q : queries) {
        if (!ok) break;
        try {
          std::string resolved = ros::names::resolve(q);
          std::cout << "R " << hex(resolved) << "\n";
        } catch (const std::exception& e) {
          std::cout << "F " << hex(e.what()) << "\n";
        }
      }
      std::cout << "E" << std::endl;
    }
  }
  return 0;
}
