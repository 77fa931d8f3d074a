// Runs inputs through a fuzz target's LLVMFuzzerTestOneInput without
// libFuzzer, so the checked-in corpus and crash regressions run in the normal
// test suite with any compiler. Arguments are files or folders (every
// regular file in a folder, in name order); the empty input always runs
// first, as libFuzzer's does. A crash or a failed FUZZ_CHECK aborts the
// test; giving no input at all fails it.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc,
                                                          char*** argv);

namespace {

bool ListInputs(const std::string& path, std::vector<std::string>* out) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    std::fprintf(stderr, "replay: cannot stat %s\n", path.c_str());
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    out->push_back(path);
    return true;
  }
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) {
    std::fprintf(stderr, "replay: cannot open folder %s\n", path.c_str());
    return false;
  }
  std::vector<std::string> files;
  while (const dirent* e = readdir(dir)) {
    const std::string child = path + "/" + e->d_name;
    if (stat(child.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      files.push_back(child);
    }
  }
  closedir(dir);
  std::sort(files.begin(), files.end());
  out->insert(out->end(), files.begin(), files.end());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) {
    if (!ListInputs(argv[i], &inputs)) return 1;
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "replay: no inputs given; pass files or folders\n");
    return 1;
  }
  // libFuzzer never passes a null pointer, not even for the empty input.
  static const uint8_t kEmpty[1] = {0};
  LLVMFuzzerTestOneInput(kEmpty, 0);
  for (const std::string& path : inputs) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
      return 1;
    }
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
    std::fprintf(stderr, "replay: %s (%zu bytes)\n", path.c_str(),
                 bytes.size());
    LLVMFuzzerTestOneInput(
        bytes.empty() ? kEmpty : reinterpret_cast<const uint8_t*>(bytes.data()),
        bytes.size());
  }
  std::printf("replay: %zu inputs, no failure\n", inputs.size());
  return 0;
}
