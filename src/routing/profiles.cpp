#include "routing/profiles.h"

namespace culvert::routing {
namespace {

// Addresses that are never on the far side of the border: loopback, private, link-local, CGNAT.
Rule local_networks() {
  Rule rule;
  for (const char* text : {"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
                           "100.64.0.0/10", "::1/128", "fc00::/7", "fe80::/10"})
    rule.cidrs.push_back(*parse_cidr(text));
  rule.suffixes = {"localhost", "local", "lan", "home.arpa"};
  rule.action = Action::direct();
  return rule;
}

// The mainland's country TLDs and a starter set of its largest services and their CDNs.
Rule domestic_domains() {
  Rule rule;
  rule.suffixes = {
      "cn", "xn--fiqs8s", "xn--fiqz9s",  // .cn, .中国, .中國
      // search, portals, news
      "baidu.com", "bdstatic.com", "bdimg.com", "baidupcs.com", "bcebos.com", "sina.com", "sina.com.cn", "sinaimg.cn",
      "weibo.com", "weibo.cn", "sohu.com", "163.com", "126.com", "126.net", "127.net", "netease.com", "ifeng.com",
      "toutiao.com", "toutiaoimg.com", "snssdk.com", "pstatp.com",
      // Tencent
      "qq.com", "gtimg.com", "gtimg.cn", "qpic.cn", "qlogo.cn", "weixin.com", "wechat.com", "tencent.com",
      "myqcloud.com", "tencent-cloud.net", "qcloud.com",
      // Alibaba
      "taobao.com", "tmall.com", "alipay.com", "alipayobjects.com", "alicdn.com", "aliyun.com", "aliyuncs.com",
      "alibaba.com", "1688.com", "amap.com", "autonavi.com", "dingtalk.com", "ele.me", "youku.com", "ykimg.com",
      // ByteDance, video, social
      "douyin.com", "douyinpic.com", "douyinvod.com", "bytedance.com", "byteimg.com", "ixigua.com", "bilibili.com",
      "hdslb.com", "biliapi.net", "iqiyi.com", "qiyipic.com", "kuaishou.com", "zhihu.com", "zhimg.com",
      "xiaohongshu.com", "xhscdn.com", "douban.com", "doubanio.com", "huya.com", "douyu.com",
      // shopping, travel, services
      "jd.com", "360buyimg.com", "pinduoduo.com", "yangkeduo.com", "meituan.com", "meituan.net", "dianping.com",
      "ctrip.com", "trip.com", "qunar.com", "suning.com", "vip.com", "12306.cn",
      // devices, tools, learning
      "mi.com", "xiaomi.com", "xiaomi.net", "huawei.com", "hicloud.com", "vivo.com", "oppo.com", "csdn.net",
      "cnblogs.com", "gitee.com", "cnki.net", "360.cn", "360.com", "kugou.com", "kuwo.cn", "ximalaya.com"};
  rule.action = Action::direct();
  return rule;
}

}  // namespace

std::optional<std::vector<Rule>> profile_rules(std::string_view profile, bool with_geoip) {
  std::vector<Rule> rules;
  if (profile == "global") {
    rules.push_back(local_networks());
    return rules;
  }
  if (profile != "bypass-cn") return std::nullopt;
  rules.push_back(local_networks());
  rules.push_back(domestic_domains());
  if (with_geoip) {
    Rule geoip;
    geoip.countries.push_back(*parse_country("CN"));
    geoip.action = Action::direct();
    rules.push_back(std::move(geoip));
  }
  return rules;
}

}  // namespace culvert::routing
